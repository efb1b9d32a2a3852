"""Command-line handling of tools/test.py, without running a model."""
import os.path as osp
from argparse import Namespace

import pytest
from mmengine.evaluator import Evaluator

from tests.tool_loader import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEEPLAB = osp.join(REPO, 'configs', 'deeplab',
                   'deeplabv2_r18_1xb16-20e_synthvoc-128x128.py')
BECO_KTSE = osp.join(REPO, 'configs', 'beco',
                     'beco_deeplabv2_r101_1xb16-100e_voc12aug-512x512.py')
CAM = osp.join(REPO, 'configs', 'cam', 'cam_r18_1xb16-12e_synthvoc-128x128.py')


def _build(**kwargs):
    defaults = dict(
        config=DEEPLAB, work_dir=None, out=None, tta=False, crf=False,
        pred_dir=None, save_logits=False, voc_test_format=False,
        format_only=False, cfg_options=None, launcher='none')
    return load_tool('test').build_config(Namespace(**{**defaults,
                                                        **kwargs}))


def test_defaults_keep_the_single_scale_test_cfg():
    cfg = _build()
    assert cfg.model.test_cfg == dict(scales=(1.0, ), flip=False,
                                      fusion='mean')
    assert cfg.test_evaluator.type == 'SegIoUMetric'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'TotalBatchSizeHook', 'SyncBuffersHook'
    ]


def test_tta_and_crf_merge_into_the_model_test_cfg():
    crf = dict(crf=dict(type='DenseCRF', preset='deeplab_beco'),
               crf_image='raw')
    assert _build(tta=True).model.test_cfg == dict(
        scales=(0.75, 1.0, 1.25), flip=True, fusion='mean')
    assert _build(crf=True).model.test_cfg == dict(
        scales=(1.0, ), flip=False, fusion='mean', **crf)
    # the BECO model's own test_cfg, with the KTSE multi-scale recipe
    both = _build(config=BECO_KTSE, tta=True, crf=True)
    assert both.model.type == 'BECO'
    assert both.model.test_cfg == dict(
        scales=(0.75, 1.0, 1.25), flip=False, fusion='max', fuse_at='head',
        **crf)
    # --cfg-options reach the merged settings
    faithful = _build(crf=True, cfg_options={
        'crf_test_cfg.crf_image': 'mean_sub_uint8_wrap'})
    assert faithful.model.test_cfg.crf_image == 'mean_sub_uint8_wrap'


def test_tta_and_crf_need_their_config_entries():
    with pytest.raises(KeyError, match='--tta needs `tta_test_cfg`.*cam_r18'):
        _build(config=CAM, tta=True)
    with pytest.raises(KeyError, match='--crf needs `crf_test_cfg`'):
        _build(config=CAM, crf=True)


def test_pred_dir_adds_the_writer_hook():
    cfg = _build(pred_dir='preds', save_logits=True)
    assert cfg.custom_hooks[:2] == [
        dict(type='TotalBatchSizeHook'), dict(type='SyncBuffersHook')
    ]
    assert cfg.custom_hooks[2] == dict(
        type='SegPredictionWriterHook', out_dir='preds', save_logits=True,
        voc_test_format=False)
    for option in ('save_logits', 'voc_test_format', 'format_only'):
        flag = '--' + option.replace('_', '-')
        with pytest.raises(ValueError, match=f'{flag} needs --pred-dir'):
            _build(**{option: True})


def test_format_only_drops_metrics_and_ground_truth():
    cfg = _build(pred_dir='preds', voc_test_format=True, format_only=True)
    assert cfg.test_evaluator == []
    dataset = cfg.test_dataloader.dataset
    assert [step['type'] for step in dataset.pipeline] == [
        'LoadImageFromFile', 'PackWSSSInputs'
    ]
    assert dataset.data_prefix.seg_map_path is None
    assert dataset.with_cls_labels is False
    # the validation during training is untouched
    assert cfg.val_evaluator.type == 'SegIoUMetric'
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == \
        'SegmentationClass'
    # mmengine's runner accepts the empty list: an evaluator with no metric
    assert Evaluator(cfg.test_evaluator).evaluate(3) == {}


def test_out_sets_the_evaluator_output_dir():
    assert _build(out='metrics').test_evaluator.output_dir == 'metrics'
