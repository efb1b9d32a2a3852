"""SegPredictionWriterHook writes label PNGs, logits and the VOC layout."""
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from PIL import Image

from wsstool.engine.hooks.seg_prediction_writer import SegPredictionWriterHook
from wsstool.registry import HOOKS
from wsstool.structures import WSSSDataSample

PALETTE = [(0, 0, 0), (128, 0, 0), (0, 128, 0)]


def _runner(palette=PALETTE):
    metainfo = dict(classes=('background', 'a', 'b'))
    if palette is not None:
        metainfo['palette'] = palette
    return SimpleNamespace(
        test_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(metainfo=metainfo)))


def _sample(seed, img_id='2007_000032', with_logits=True, with_id=True):
    """A prediction of 3 classes on a 4x5 image; the label is the arg-max
    of the logits, as a segmentor returns it."""
    logits = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(
        seed)) * 10
    sample = WSSSDataSample(
        metainfo=dict(img_path=f'data/JPEGImages/{img_id}.jpg'))
    if with_id:
        sample.set_metainfo(dict(img_id=img_id))
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    if with_logits:
        sample.seg_logits = PixelData(data=logits)
    return sample


def _run(hook, outputs, runner=None):
    runner = runner or _runner()
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, outputs)
    hook.after_test(runner)


def _files(root):
    return sorted(
        osp.relpath(osp.join(folder, name), root)
        for folder, _, names in os.walk(root) for name in names)


def test_label_pngs_with_palette_and_logits(tmp_path):
    samples = [_sample(0, '2007_000032'), _sample(1, '2008_000002')]
    hook = HOOKS.build(
        dict(type='SegPredictionWriterHook', out_dir=str(tmp_path),
             save_logits=True))
    _run(hook, samples)
    # nothing else (no temporary files) is left behind
    assert _files(tmp_path) == [
        'logits/2007_000032.npz', 'logits/2008_000002.npz',
        'pred/2007_000032.png', 'pred/2008_000002.png'
    ]
    for sample in samples:
        img_id = sample.metainfo['img_id']
        with Image.open(tmp_path / 'pred' / f'{img_id}.png') as png:
            assert png.mode == 'P'
            assert png.getpalette()[:9] == [c for rgb in PALETTE for c in rgb]
            np.testing.assert_array_equal(
                np.array(png), sample.pred_sem_seg.data[0].numpy())
        with np.load(tmp_path / 'logits' / f'{img_id}.npz') as npz:
            assert list(npz) == ['seg_logits']
            logits = npz['seg_logits']
        assert logits.dtype == np.float16 and logits.shape == (3, 4, 5)
        np.testing.assert_allclose(
            logits, sample.seg_logits.data.numpy(), rtol=1e-3, atol=1e-3)


def test_grey_pngs_without_palette_and_id_from_the_path(tmp_path):
    hook = SegPredictionWriterHook(str(tmp_path), palette=False)
    sample = _sample(2, with_logits=False, with_id=False)
    # a dataset without a palette is fine when no palette is asked for
    _run(hook, [sample], _runner(palette=None))
    assert _files(tmp_path) == ['pred/2007_000032.png']
    with Image.open(tmp_path / 'pred' / '2007_000032.png') as png:
        assert png.mode == 'L'
        np.testing.assert_array_equal(
            np.array(png), sample.pred_sem_seg.data[0].numpy())


def test_voc_test_server_layout(tmp_path):
    hook = SegPredictionWriterHook(
        str(tmp_path), palette=False, voc_test_format=True)
    sample = _sample(3, with_logits=False)
    _run(hook, [sample])
    assert _files(tmp_path) == [
        'results/VOC2012/Segmentation/comp6_test_cls/2007_000032.png'
    ]
    path = tmp_path / 'results/VOC2012/Segmentation/comp6_test_cls'
    with Image.open(path / '2007_000032.png') as png:
        assert png.mode == 'P'  # the server needs palette PNGs
        np.testing.assert_array_equal(
            np.array(png), sample.pred_sem_seg.data[0].numpy())


def test_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match='writes nothing'):
        SegPredictionWriterHook(str(tmp_path), save_labels=False)
    with pytest.raises(KeyError, match="no metainfo\\['palette'\\]"):
        SegPredictionWriterHook(str(tmp_path)).before_test(
            _runner(palette=None))
    hook = SegPredictionWriterHook(str(tmp_path), save_logits=True)
    with pytest.raises(KeyError, match='image 2007_000032 has no seg_logits'):
        _run(hook, [_sample(4, with_logits=False)])
