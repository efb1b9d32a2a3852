"""A tiny SynthVOC, the CAM-baseline config shrunk to it, and the helpers
that run the tools in subprocesses, shared by the integration tests."""
import os
import os.path as osp
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CAM_CONFIG = osp.join(REPO, 'configs', 'cam',
                      'cam_r18_1xb16-12e_synthvoc-128x128.py')

# 8 training images (4 iterations of 2 per epoch on one process), 5 GT
# images (odd, so two processes need a padded sampler), 48-pixel images.
TINY_GENERATOR = dict(
    seed=3, num_train_aug=8, num_train=5, num_val=5, image_size=48,
    num_classes=4)


def tiny_overrides(data_root: str, max_epochs: int = 1) -> dict:
    """--cfg-options that shrink the SynthVOC CAM config for tests."""
    overrides = {
        'train_cfg.max_epochs': max_epochs,
        # warm-up and decay both over the whole (short) run
        'param_scheduler.1.begin': 0,
        'param_scheduler.1.end': max_epochs,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.pipeline.4.crop_size': (48, 48),
        'model.head.num_classes': TINY_GENERATOR['num_classes'],
        'model.test_cfg.scales': (1.0, 0.5),
        'default_hooks.logger.interval': 1,
    }
    overrides.update(tiny_loader_overrides(data_root))
    return overrides


def tiny_loader_overrides(data_root: str) -> dict:
    """--cfg-options pointing every dataloader at the tiny SynthVOC, with
    the evaluation loaders in the main process."""
    overrides = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.data_root'] = data_root
        overrides[f'{loader}.dataset.generator_cfg'] = TINY_GENERATOR
    for loader in ('val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.num_workers'] = 0
        overrides[f'{loader}.persistent_workers'] = False
    return overrides


def run_command(command: list[str], **env) -> str:
    """Run a tool from the repository root (one OpenMP thread unless
    ``env`` says otherwise); fail the test with its output if it fails.

    Returns:
        str: Its stdout and stderr.
    """
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1',
             **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -5000:]
    return result.stdout + result.stderr


def as_cli(overrides: dict) -> list[str]:
    """Render overrides as ``--cfg-options`` arguments."""
    items = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            items += [f'{key}.{k}={_cli_value(v)}' for k, v in value.items()]
        else:
            items.append(f'{key}={_cli_value(value)}')
    return ['--cfg-options', *items]


def _cli_value(value) -> str:
    if isinstance(value, tuple):
        return '(' + ','.join(str(v) for v in value) + ',)'
    return str(value)


@pytest.fixture(scope='session')
def tiny_synthvoc(tmp_path_factory) -> str:
    """Generate the tiny SynthVOC once for the session."""
    from wsstool.datasets.synthvoc import SynthVOCParams, prepare_synthvoc
    root = str(tmp_path_factory.mktemp('synthvoc') / 'synthvoc')
    prepare_synthvoc(root, SynthVOCParams.from_cfg(TINY_GENERATOR), True)
    return root
