"""KTSE end to end on a tiny SynthVOC: single process with a swapped
eraser, an out-of-tree eraser plugin, and 2 gloo processes."""
import os.path as osp
import sys
from argparse import Namespace

from mmengine.runner import Runner

from tests.tool_loader import load_tool
from wsstool.apis.pipeline.context import free_port
from wsstool.models.erasers import SoftCAMEraser

from .conftest import REPO, TINY_GENERATOR, as_cli, run_command

KTSE_CONFIG = osp.join(REPO, 'configs', 'ktse',
                       'ktse_r18_1xb16-12e_synthvoc-128x128.py')
PLUGIN_CONFIG = osp.join(REPO, 'projects', 'patch_eraser',
                         'ktse-patch_r18_1xb16-12e_synthvoc-128x128.py')
KTSE_LOSSES = ('loss_cls', 'loss_local', 'loss_global', 'loss_kt',
               'loss_seg_bg', 'loss_seg_fg', 'loss_seg_two_bg')


def ktse_overrides(data_root: str) -> dict:
    """Two epochs of 4 iterations (batch 2), erasing from the second."""
    overrides = {
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'param_scheduler.1.begin': 0,
        'param_scheduler.1.end': 2,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.dataset.pipeline.4.crop_size': (48, 48),
        'train_dataloader.dataset.dataset.data_root': data_root,
        'train_dataloader.dataset.dataset.generator_cfg': TINY_GENERATOR,
        'model.head.num_classes': TINY_GENERATOR['num_classes'],
        'model.erase_start_epoch': 1,
        'model.test_cfg.scales': (1.0, ),
        'default_hooks.logger.interval': 1,
    }
    for loader in ('val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.data_root'] = data_root
        overrides[f'{loader}.dataset.generator_cfg'] = TINY_GENERATOR
        overrides[f'{loader}.num_workers'] = 0
        overrides[f'{loader}.persistent_workers'] = False
    return overrides


def _train(config: str, work_dir: str, overrides: dict) -> Runner:
    args = Namespace(config=config, work_dir=work_dir, resume=None,
                     amp=False, cfg_options=overrides, launcher='none')
    runner = Runner.from_cfg(load_tool('train').build_config(args))
    runner.train()
    return runner


def test_ktse_trains_with_an_eraser_swapped_from_the_command_line(
        tiny_synthvoc, tmp_path):
    overrides = {**ktse_overrides(tiny_synthvoc),
                 'model.eraser.type': 'SoftCAMEraser'}
    runner = _train(KTSE_CONFIG, str(tmp_path), overrides)
    assert isinstance(runner.model.eraser, SoftCAMEraser)
    assert runner.iter == 8 and runner.model.epoch == 1
    scalars = runner.message_hub.log_scalars
    for name in KTSE_LOSSES:
        assert f'train/{name}' in scalars, name
    assert 0.0 <= runner.message_hub.get_scalar('val/cam/mIoU').current()


def test_ktse_trains_with_an_out_of_tree_eraser_plugin(
        tiny_synthvoc, tmp_path):
    runner = _train(PLUGIN_CONFIG, str(tmp_path),
                    ktse_overrides(tiny_synthvoc))
    assert type(runner.model.eraser).__name__ == 'TopPatchEraser'
    assert 'train/loss_kt' in runner.message_hub.log_scalars


def test_ktse_two_gloo_processes(tiny_synthvoc, tmp_path):
    work_dir = str(tmp_path / 'work')
    run_command(['bash', 'tools/dist_train.sh', KTSE_CONFIG, '2', '--work-dir',
                 work_dir, *as_cli(ktse_overrides(tiny_synthvoc))],
                PYTHON=sys.executable, PORT=str(free_port()))
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    logs = ''.join(
        open(osp.join(root, name)).read()
        for root, _, names in __import__('os').walk(work_dir)
        for name in names if name.endswith('.log'))
    assert 'loss_kt' in logs and 'loss_seg_two_bg' in logs
