"""tools/make_pseudo_labels.py on a tiny SynthVOC: relation labels, IRNet
training with an mmengine runner, random walk, resume, relabel, evaluation,
two processes, bad input."""
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tests.tool_loader import load_tool
from wsstool.fileio import load_cam, load_label_png, save_cam
from wsstool.apis.pipeline.context import free_port
from wsstool.registry import DATASETS, MODELS, REFINERS
from wsstool.utils import load_from_local, setup_checkpoint_io

from .conftest import REPO, TINY_GENERATOR, as_cli, run_command

IRN_CONFIG = osp.join(REPO, 'configs', 'irn',
                      'irn_r18_1xb16-10e_synthvoc-128x128.py')


def _overrides(data_root: str, cam_dir: str, out_dir: str) -> dict:
    """--cfg-options shrinking the SynthVOC IRN config for tests."""
    overrides = {
        'refine.cam_dir': cam_dir,
        'refine.out_dir': out_dir,
        'model.backbone.init_cfg': None,
        'model.test_cfg.random_walk.num_steps': 16,
        'model.train_cfg.radius': 5,  # 48-pixel crops: 12x12 grid
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.pipeline.4.crop_size': (48, 48),
        'train_dataloader.dataset.data_prefix.seg_map_path': osp.join(
            out_dir, 'relation_labels'),
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_dataloader.dataset.cam_dir': cam_dir,
        'train_cfg.max_epochs': 1,
        'param_scheduler.0.end': 1,
        'default_hooks.logger.interval': 1,
    }
    for loader in ('train_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.data_root'] = data_root
        overrides[f'{loader}.dataset.generator_cfg'] = TINY_GENERATOR
    return overrides


def _config(overrides: dict) -> Config:
    cfg = Config.fromfile(IRN_CONFIG)
    cfg.merge_from_dict(overrides)
    return cfg


@pytest.fixture(scope='module')
def tool():
    return load_tool('make_pseudo_labels')


@pytest.fixture(scope='module')
def refine_setup(tiny_synthvoc, tmp_path_factory):
    """Random max-normalised CAMs of the image-level classes of every
    train_aug image, relation labels from them, and an IRNet trained on them
    for one epoch."""
    tmp = tmp_path_factory.mktemp('refine')
    # CAMs named relative to data_root, as in the configs
    cam_dir = osp.join(tiny_synthvoc, 'cams_refine')
    out_dir = str(tmp / 'out')
    overrides = _overrides(tiny_synthvoc, 'cams_refine', out_dir)
    cfg = _config(overrides)
    init_default_scope('wsstool')
    dataset = DATASETS.build(
        dict(cfg.test_dataloader.dataset, cam_dir=None,
             ann_file='ImageSets/Segmentation/train_aug.txt',
             data_prefix=dict(img_path='JPEGImages')))
    rng = np.random.default_rng(0)
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        height, width = cv2.imread(info['img_path']).shape[:2]
        keys = np.flatnonzero(info['gt_label'])
        cams = cv2.blur(rng.random((height, width, len(keys))), (9, 9))
        cams = cams.reshape(height, width, len(keys)).transpose(2, 0, 1)
        cams /= cams.max(axis=(1, 2), keepdims=True)
        save_cam(osp.join(cam_dir, f'{info["img_id"]}.npz'), keys, cams)
    return dict(
        overrides=overrides, cam_dir=cam_dir, out_dir=out_dir,
        data_root=tiny_synthvoc, tmp=tmp)


@pytest.fixture(scope='module')
def relation_labels(tool, refine_setup):
    tool.main([
        IRN_CONFIG, '--step', 'relation-labels', '--workers', '2',
        *as_cli(refine_setup['overrides'])
    ])
    return osp.join(refine_setup['out_dir'], 'relation_labels')


@pytest.fixture(scope='module')
def checkpoint(relation_labels, refine_setup):
    """IRNet trained for one epoch by the mmengine runner on the relation
    labels."""
    setup_checkpoint_io()
    cfg = _config(refine_setup['overrides'])
    cfg.work_dir = str(refine_setup['tmp'] / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    return osp.join(cfg.work_dir, 'epoch_1.pth')


def test_relation_labels_equal_the_refiner_on_every_image(
        relation_labels, refine_setup):
    cfg = _config(refine_setup['overrides'])
    refiner = REFINERS.build(cfg.refine.relation_label)
    ids = sorted(name[:-4] for name in os.listdir(
        refine_setup['cam_dir']))
    assert sorted(
        name[:-4]
        for name in os.listdir(relation_labels)) == ids
    data_root = refine_setup['data_root']
    for img_id in ids[:3]:
        image = cv2.imread(osp.join(data_root, 'JPEGImages',
                                    f'{img_id}.jpg'))[..., ::-1]
        keys, cams = load_cam(osp.join(refine_setup['cam_dir'],
                                       f'{img_id}.npz'))
        expected = refiner(np.ascontiguousarray(image), keys, cams)
        label = load_label_png(osp.join(relation_labels, f'{img_id}.png'))
        np.testing.assert_array_equal(label, expected)
        assert set(np.unique(label)) <= {0, 255, *(keys + 1)}


def test_irnet_trains_and_walks_to_pseudo_labels(tool, checkpoint,
                                                  refine_setup):
    results = tool.main([
        IRN_CONFIG, '--step', 'pseudo-labels', '--checkpoint', checkpoint,
        *as_cli(refine_setup['overrides'])
    ])
    out_dir = refine_setup['out_dir']
    for key in ('seg/mIoU', 'seg/mPrecision', 'seg/mRecall',
                'conf/precision', 'conf/coverage'):
        assert 0 <= results[key] <= 100
    # the same files scored by tools/evaluate.py
    evaluate = load_tool('evaluate')
    data_root = refine_setup['data_root']
    expected = evaluate.main([
        '--type', 'label', '--pred', osp.join(out_dir, 'pseudo_labels'),
        '--gt', osp.join(data_root, 'SegmentationClass'), '--list',
        osp.join(data_root, 'ImageSets/Segmentation/train.txt'),
        '--conf-masks', osp.join(out_dir, 'conf_masks'), '--nan-policy',
        'nanmean', '--num-classes', str(TINY_GENERATOR['num_classes'] + 1)
    ])
    for key, value in expected.items():
        assert results[key] == pytest.approx(value), key
    # --step evaluate scores the written folder again
    assert tool.main([IRN_CONFIG, '--step', 'evaluate',
                      *as_cli(refine_setup['overrides'])]) == results
    # the runner's test loop on the config (tools/test.py) agrees
    cfg = _config(refine_setup['overrides'])
    cfg.work_dir = str(refine_setup['tmp'] / 'test_loop')
    cfg.load_from = checkpoint
    metrics = Runner.from_cfg(cfg).test()
    assert metrics['seg/mIoU'] == pytest.approx(results['seg/mIoU'])
    # scores are float16 and their arg-max is the pseudo label
    img_id = sorted(os.listdir(
        osp.join(out_dir, 'scores')))[0][:-4]
    keys, score = tool.load_scores(osp.join(out_dir, 'scores',
                                            f'{img_id}.npz'))
    with np.load(osp.join(out_dir, 'scores', f'{img_id}.npz')) as data:
        assert data['score'].dtype == np.float16
    label = load_label_png(osp.join(out_dir, 'pseudo_labels',
                                    f'{img_id}.png'))
    np.testing.assert_array_equal(
        label, np.concatenate([[0], keys + 1])[score.argmax(0)])
    np.testing.assert_array_equal(score[0], np.float16(0.25))


def _file_bytes(folder: str) -> dict:
    return {
        osp.join(sub, name): open(osp.join(folder, sub, name), 'rb').read()
        for sub in ('pseudo_labels', 'scores', 'conf_masks')
        for name in os.listdir(osp.join(folder, sub))
    }


def _random_checkpoint(path: str, cfg: Config) -> str:
    init_default_scope('wsstool')
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return path


def test_resumed_run_writes_the_same_files(tool, refine_setup):
    tmp = refine_setup['tmp']
    overrides = refine_setup['overrides']
    ckpt = _random_checkpoint(str(tmp / 'random.pth'), _config(overrides))
    whole, resumed = str(tmp / 'whole'), str(tmp / 'resumed')
    common = [IRN_CONFIG, '--step', 'pseudo-labels', '--checkpoint', ckpt]
    tool.main(common + ['--out', whole, *as_cli(overrides)])
    # an interrupted run: 3 images done, then the whole split again
    ids = sorted(name[:-4] for name in os.listdir(
        refine_setup['cam_dir']))
    first = tmp / 'first.txt'
    first.write_text('\n'.join(ids[:3]))
    with pytest.raises(FileNotFoundError, match='evaluation split'):
        tool.main(common + ['--out', resumed, '--split', str(first),
                            *as_cli(overrides)])
    assert len(_file_bytes(resumed)) == 9
    tool.main(common + ['--out', resumed, *as_cli(overrides)])
    assert _file_bytes(resumed) == _file_bytes(whole)


def test_relabel_from_saved_scores(tool, checkpoint, refine_setup):
    overrides = refine_setup['overrides']
    out_dir = refine_setup['out_dir']
    tool.main([
        IRN_CONFIG, '--step', 'pseudo-labels', '--checkpoint', checkpoint,
        *as_cli(overrides)
    ])
    results = tool.main(
        [IRN_CONFIG, '--step', 'relabel', '--bg-score', '0.9',
         *as_cli(overrides)])
    relabelled = osp.join(out_dir, 'bg_0.9', 'pseudo_labels')
    for name in os.listdir(relabelled):
        keys, score = tool.load_scores(osp.join(out_dir, 'scores',
                                                name[:-4] + '.npz'))
        score[0] = 0.9
        np.testing.assert_array_equal(
            load_label_png(osp.join(relabelled, name)),
            np.concatenate([[0], keys + 1])[score.argmax(0)])
    assert 0 <= results['seg/mIoU'] <= 100


def test_two_processes_write_the_files_of_one(tool, refine_setup):
    tmp = refine_setup['tmp']
    overrides = refine_setup['overrides']
    ckpt = _random_checkpoint(str(tmp / 'random2.pth'), _config(overrides))
    single, dist = str(tmp / 'single'), str(tmp / 'dist')
    tool.main([IRN_CONFIG, '--step', 'pseudo-labels', '--checkpoint', ckpt,
               '--out', single, *as_cli(overrides)])
    run_command(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(free_port()),
         'tools/make_pseudo_labels.py', IRN_CONFIG, '--step',
         'pseudo-labels', '--checkpoint', ckpt, '--out', dist,
         '--launcher', 'pytorch', *as_cli(overrides)])
    single_files, dist_files = _file_bytes(single), _file_bytes(dist)
    assert single_files.keys() == dist_files.keys()
    for name, content in single_files.items():
        if name.startswith('scores'):  # threads may round differently
            continue
        assert dist_files[name] == content, name


def test_irnet_trains_on_two_processes(tool, relation_labels, refine_setup):
    """tools/dist_train.sh trains IRNet with 2 gloo processes (frozen
    backbone under DDP) and the checkpoint walks."""
    tmp = refine_setup['tmp']
    work_dir = str(tmp / 'dist_work')
    run_command(
        ['bash', 'tools/dist_train.sh', IRN_CONFIG, '2', '--work-dir',
         work_dir, *as_cli(refine_setup['overrides'])],
        PYTHON=sys.executable, PORT=str(free_port()))
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    state_dict = load_from_local(checkpoint)['state_dict']
    assert all(
        torch.isfinite(value).all() for value in state_dict.values()
        if value.is_floating_point())
    results = tool.main([
        IRN_CONFIG, '--step', 'pseudo-labels', '--checkpoint', checkpoint,
        '--out', str(tmp / 'dist_walk'), *as_cli(refine_setup['overrides'])
    ])
    assert 0 <= results['seg/mIoU'] <= 100


def test_missing_cams_are_counted(tool, refine_setup, tmp_path):
    cams = tmp_path / 'cams'
    shutil.copytree(refine_setup['cam_dir'], cams)
    removed = sorted(cams.iterdir())[:2]
    for path in removed:
        path.unlink()
    with pytest.raises(FileNotFoundError,
                       match=f'2 of the 8 files for cam_path.*'
                       f'{removed[0].name}'):
        tool.main([IRN_CONFIG, '--step', 'relation-labels', '--cams',
                   str(cams), '--out', str(tmp_path / 'out'),
                   *as_cli(refine_setup['overrides'])])
