"""Command-line handling of tools/train.py."""
import os.path as osp
from argparse import Namespace

import pytest
import torch

from tests.tool_loader import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'cam',
                  'cam_r18_1xb16-12e_synthvoc-128x128.py')


def _train_module():
    return load_tool('train')


def _args(**kwargs) -> Namespace:
    defaults = dict(config=CONFIG, work_dir=None, resume=None, amp=False,
                    cfg_options=None, launcher='none')
    return Namespace(**{**defaults, **kwargs})


def test_work_dir_defaults_to_config_name():
    cfg = _train_module().build_config(_args())
    assert cfg.work_dir == osp.join('./work_dirs',
                                    'cam_r18_1xb16-12e_synthvoc-128x128')
    assert cfg.resume is False


def test_resume_latest_or_given_checkpoint():
    train = _train_module()
    latest = train.build_config(_args(resume='auto'))
    assert latest.resume is True and latest.load_from is None
    given = train.build_config(_args(resume='w/epoch_3.pth'))
    assert given.resume is True and given.load_from == 'w/epoch_3.pth'


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_pytorch_launcher_on_cpu_uses_ddp_without_device_ids():
    cfg = _train_module().build_config(_args(launcher='pytorch'))
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None)


def test_malformed_cfg_option_names_key():
    with pytest.raises(ValueError, match='train_dataloader.batch_size'):
        _train_module().build_config(
            _args(cfg_options={'train_dataloader.batch_size': 'sixteen'}))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_amp_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
        _train_module().build_config(_args(amp=True))
