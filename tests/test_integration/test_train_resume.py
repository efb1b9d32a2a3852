"""Train the CAM baseline on a tiny SynthVOC, evaluate, save, resume."""
import copy

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from wsstool.utils import load_from_local, setup_checkpoint_io

from .conftest import CAM_CONFIG, tiny_overrides

# no random augmentation, so a resumed run must reproduce a straight one
DETERMINISTIC_TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='PackWSSSInputs'),
]


def _config(data_root: str, work_dir: str) -> Config:
    cfg = Config.fromfile(CAM_CONFIG)
    cfg.merge_from_dict(tiny_overrides(data_root, max_epochs=2))
    cfg.train_dataloader.dataset.pipeline = copy.deepcopy(
        DETERMINISTIC_TRAIN_PIPELINE)
    cfg.work_dir = work_dir
    return cfg


def test_train_evaluate_save_resume(tiny_synthvoc, tmp_path):
    setup_checkpoint_io()
    straight = Runner.from_cfg(_config(tiny_synthvoc, str(tmp_path / 'a')))
    straight.train()
    assert straight.iter == 8 and straight.epoch == 2
    metrics = straight.val_loop.run()
    assert 0.0 <= metrics['cam/mIoU'] <= 100.0
    assert 0.0 <= metrics['cam/best_threshold'] <= 0.6

    # an interrupted run restarted from the epoch-1 checkpoint
    cfg = _config(tiny_synthvoc, str(tmp_path / 'b'))
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'a' / 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 8 and resumed.epoch == 2

    final_a = load_from_local(str(tmp_path / 'a' / 'epoch_2.pth'))
    final_b = load_from_local(str(tmp_path / 'b' / 'epoch_2.pth'))
    for key, value in final_a['state_dict'].items():
        torch.testing.assert_close(value, final_b['state_dict'][key])
    assert (final_a['param_schedulers'][0]['last_step'] ==
            final_b['param_schedulers'][0]['last_step'])
