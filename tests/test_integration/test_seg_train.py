"""Stage 3 end to end on a tiny SynthVOC: BECO and the DeepLab baseline
trained on pseudo labels with tools/train.py (one process and two gloo
processes), resumed after the warm-up, and tested with TTA, CRF and
prediction files like a user would."""
import os
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from wsstool.apis.pipeline.context import free_port
from wsstool.fileio import load_label_png, save_label_png
from wsstool.models.segmentors.beco import BECO
from wsstool.utils import setup_checkpoint_io

from .conftest import (REPO, TINY_GENERATOR, as_cli, run_command,
                       tiny_loader_overrides)

BECO_CONFIG = osp.join(REPO, 'configs', 'beco',
                       'beco_deeplabv2_r18_1xb16-20e_synthvoc-128x128.py')
DEEPLAB_CONFIG = osp.join(REPO, 'configs', 'deeplab',
                          'deeplabv2_r18_1xb16-20e_synthvoc-128x128.py')
NUM_CLASSES = TINY_GENERATOR['num_classes'] + 1
PSEUDO_DIR = 'refine/tiny/pseudo_labels'
CONF_DIR = 'refine/tiny/conf_masks'


@pytest.fixture(scope='module')
def pseudo_labels(tiny_synthvoc) -> str:
    """Pseudo labels of train_aug (the SegmentationClassAug maps with their
    void band as background, like refined labels, which have no 255) and
    confidence masks that leave that band and every fifth row unsure."""
    root = tiny_synthvoc
    for folder in (PSEUDO_DIR, CONF_DIR):
        os.makedirs(osp.join(root, folder), exist_ok=True)
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       'train_aug.txt')) as f:
        img_ids = f.read().split()
    for img_id in img_ids:
        label = load_label_png(
            osp.join(root, 'SegmentationClassAug', img_id + '.png'))
        confident = label != 255
        confident[::5] = False
        save_label_png(
            osp.join(root, PSEUDO_DIR, img_id + '.png'),
            np.where(label == 255, 0, label).astype(np.uint8))
        save_label_png(
            osp.join(root, CONF_DIR, img_id + '.png'),
            (confident * 255).astype(np.uint8))
    return root


def tiny_seg_overrides(data_root: str, max_epochs: int) -> dict:
    """--cfg-options shrinking a SynthVOC stage-3 config: 8 training images
    of 48 pixels in batches of 4 (2 iterations per epoch), 5 val images,
    a backbone trained from scratch."""
    overrides = {
        'train_cfg.max_epochs': max_epochs,
        'param_scheduler.0.end': max_epochs,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_prefix.seg_map_path': PSEUDO_DIR,
        'train_dataloader.dataset.pipeline.1.num_classes': NUM_CLASSES,
        'train_dataloader.dataset.pipeline.2.size': (48, 48),
        'default_hooks.logger.interval': 1,
    }
    overrides.update(tiny_loader_overrides(data_root))
    for loader in ('val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.pipeline.1.num_classes'] = NUM_CLASSES
    return overrides


def beco_overrides(data_root: str, max_epochs: int) -> dict:
    """The tiny BECO run: warm-up of one epoch, then co-training."""
    return {
        **tiny_seg_overrides(data_root, max_epochs),
        'train_dataloader.dataset.conf_mask_dir': CONF_DIR,
        'model.warmup_epochs': 1,
        'model.network.backbone.init_cfg': None,
        'model.network.decode_head.num_classes': NUM_CLASSES,
    }


def _beco_config(data_root: str, work_dir: str, max_epochs: int) -> Config:
    cfg = Config.fromfile(BECO_CONFIG)
    cfg.merge_from_dict(beco_overrides(data_root, max_epochs))
    cfg.work_dir = work_dir
    return cfg


def test_beco_resumed_after_warmup_continues_co_training(
        pseudo_labels, tmp_path, monkeypatch):
    setup_checkpoint_io()
    online_epochs = []
    original = BECO.online_targets

    def counting_online_targets(self, inputs):
        online_epochs.append(self.epoch)
        return original(self, inputs)

    monkeypatch.setattr(BECO, 'online_targets', counting_online_targets)
    warmup = Runner.from_cfg(
        _beco_config(pseudo_labels, str(tmp_path / 'a'), max_epochs=1))
    warmup.train()
    assert online_epochs == []  # epoch 0 is the warm-up
    metrics = warmup.val_loop.run()
    assert 0.0 <= metrics['seg/mIoU'] <= 100.0

    # an interrupted run restarted from the warm-up checkpoint
    cfg = _beco_config(pseudo_labels, str(tmp_path / 'b'), max_epochs=2)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'a' / 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4
    # the resumed epoch co-trains with online labels in each of its 2 steps
    assert online_epochs == [1, 1]


def test_beco_two_gloo_processes_train_and_test_like_one(
        pseudo_labels, tmp_path):
    work_dir = str(tmp_path / 'work')
    overrides = beco_overrides(pseudo_labels, max_epochs=2)
    dist_eval = tmp_path / 'dist_val'
    log = run_command(['bash', 'tools/dist_train.sh', BECO_CONFIG, '2',
                       '--work-dir', work_dir,
                       *as_cli({**overrides,
                                'val_evaluator.output_dir': str(dist_eval)})],
                      PYTHON=sys.executable, PORT=str(free_port()))
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    assert osp.isfile(checkpoint)
    assert 'loss_cot1' in log and 'seg/mIoU' in log

    # the val metric of the last epoch, recomputed by tools/test.py in one
    # process and by tools/dist_test.sh in two, with TTA
    single, double = tmp_path / 'single', tmp_path / 'double'
    run_command([sys.executable, 'tools/test.py', BECO_CONFIG, checkpoint,
                 '--work-dir', work_dir, '--out', str(single),
                 *as_cli(overrides)])
    np.testing.assert_array_equal(
        np.load(dist_eval / 'seg_confusion_matrix.npy'),
        np.load(single / 'seg_confusion_matrix.npy'))
    run_command([sys.executable, 'tools/test.py', BECO_CONFIG, checkpoint,
                 '--work-dir', work_dir, '--out', str(single), '--tta',
                 *as_cli(overrides)])
    run_command(['bash', 'tools/dist_test.sh', BECO_CONFIG, checkpoint, '2',
                 '--work-dir', work_dir, '--out', str(double), '--tta',
                 *as_cli(overrides)],
                PYTHON=sys.executable, PORT=str(free_port()))
    matrix = np.load(single / 'seg_confusion_matrix.npy')
    assert matrix.sum() > 0
    np.testing.assert_array_equal(
        np.load(double / 'seg_confusion_matrix.npy'), matrix)


def test_deeplab_baseline_trains_and_writes_crf_predictions(
        pseudo_labels, tmp_path):
    work_dir = str(tmp_path / 'work')
    overrides = {
        **tiny_seg_overrides(pseudo_labels, max_epochs=1),
        'model.backbone.init_cfg': None,
        'model.decode_head.num_classes': NUM_CLASSES,
    }
    run_command([sys.executable, 'tools/train.py', DEEPLAB_CONFIG,
                 '--work-dir', work_dir, *as_cli(overrides)])
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    pred_dir = tmp_path / 'pred'
    run_command([sys.executable, 'tools/test.py', DEEPLAB_CONFIG, checkpoint,
                 '--work-dir', work_dir, '--crf', '--pred-dir', str(pred_dir),
                 *as_cli(overrides)])
    with open(osp.join(pseudo_labels, 'ImageSets', 'Segmentation',
                       'val.txt')) as f:
        val_ids = f.read().split()
    for img_id in val_ids:
        pred = load_label_png(str(pred_dir / 'pred' / f'{img_id}.png'))
        gt = load_label_png(
            osp.join(pseudo_labels, 'SegmentationClass', img_id + '.png'))
        assert pred.shape == gt.shape
        assert pred.max() < NUM_CLASSES
