"""SSC end to end on a tiny SynthVOC: superpixels computed and cached by
the pipeline, reconstruction loss from the start, alignment from epoch 1;
the VOC config's dict of optimisers under DDP with 2 processes."""
import glob
import os.path as osp
import sys
from argparse import Namespace

import torch
from mmengine.config import Config
from mmengine.runner import Runner

# SSC's modules, imported by path (the registries import them lazily too)
import wsstool.datasets.transforms.superpixels  # noqa: F401
import wsstool.engine.optimizers  # noqa: F401
import wsstool.models.backbones.drs_resnet  # noqa: F401
import wsstool.models.heads.cam_reconstruction_decoder  # noqa: F401
import wsstool.models.losses.perceptual_loss  # noqa: F401
import wsstool.models.losses.superpixel_alignment_loss  # noqa: F401
import wsstool.models.methods.ssc  # noqa: F401
from tests.tool_loader import load_tool
from wsstool.apis.pipeline.context import free_port

from .conftest import REPO, as_cli, run_command, tiny_overrides

SSC_CONFIG = osp.join(REPO, 'configs', 'ssc',
                      'ssc_r18-drs_1xb16-12e_synthvoc-128x128.py')
VOC_CONFIG = osp.join(REPO, 'configs', 'ssc',
                      'ssc_r50-drs_1xb6-10e_voc12aug-512x512.py')


def test_ssc_trains_with_cached_superpixels(tiny_synthvoc, tmp_path):
    cache_dir = str(tmp_path / 'superpixels')
    overrides = tiny_overrides(tiny_synthvoc, max_epochs=2)
    # the SSC pipeline has ComputeSuperpixels at index 1: the crop is 5
    del overrides['train_dataloader.dataset.pipeline.4.crop_size']
    overrides.update({
        'train_dataloader.dataset.pipeline.1.cache_dir': cache_dir,
        'train_dataloader.dataset.pipeline.1.params.n_segments': 30,
        'train_dataloader.dataset.pipeline.5.crop_size': (48, 48),
        'model.align_start_epoch': 1,
        'model.test_cfg.scales': (1.0, ),
        'train_cfg.val_interval': 2,
    })
    args = Namespace(config=SSC_CONFIG, work_dir=str(tmp_path / 'work'),
                     resume=None, amp=False, cfg_options=overrides,
                     launcher='none')
    runner = Runner.from_cfg(load_tool('train').build_config(args))
    runner.train()

    assert runner.iter == 8 and runner.model.epoch == 1
    scalars = runner.message_hub.log_scalars
    for name in ('loss_cls', 'loss_per', 'loss_align'):
        assert f'train/{name}' in scalars, name
    # logged every iteration: the alignment term only in the second epoch
    assert len(scalars['train/loss_align'].data[0]) == 4
    assert len(scalars['train/loss_per'].data[0]) == 8
    assert 0.0 <= runner.message_hub.get_scalar('val/cam/mIoU').current()
    # one cached map per training image (8), computed in the first epoch
    assert len(glob.glob(osp.join(cache_dir, '*', '*.png'))) == 8
    assert not any('vgg' in key for key in runner.model.state_dict())


def test_ssc_optimiser_dict_trains_with_two_processes(tiny_synthvoc,
                                                      tmp_path):
    """The VOC config's optimisers, schedules and model wrapper on the
    SynthVOC network, under tools/dist_train.sh with 2 gloo processes."""
    voc = Config.fromfile(VOC_CONFIG)
    cfg = Config.fromfile(SSC_CONFIG)
    for key in ('optim_wrapper', 'param_scheduler', 'model_wrapper_cfg'):
        cfg[key] = voc[key]
    config = str(tmp_path / 'ssc_dict_2xb2.py')
    cfg.dump(config)
    overrides = tiny_overrides(tiny_synthvoc, max_epochs=1)
    # the schedules are a dict of lists here, and the crop is at index 5
    for key in ('param_scheduler.1.begin', 'param_scheduler.1.end',
                'train_dataloader.dataset.pipeline.4.crop_size'):
        del overrides[key]
    overrides.update({
        'train_dataloader.dataset.pipeline.1.cache_dir':
        str(tmp_path / 'superpixels'),
        'train_dataloader.dataset.pipeline.1.params.n_segments': 30,
        'train_dataloader.dataset.pipeline.5.crop_size': (48, 48),
        'model.align_start_epoch': 0,
        'model.test_cfg.scales': (1.0, ),
        'train_cfg.val_interval': 2,
    })
    work_dir = str(tmp_path / 'work')
    log = run_command(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir,
         *as_cli(overrides)], PYTHON=sys.executable, PORT=str(free_port()))
    # 8 images, 2 processes x 2 images: 2 iterations with every loss term
    assert log.count('loss_align:') == 2 and 'Epoch(train) [1][2/2]' in log
    checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'),
                            map_location='cpu', weights_only=False)
    optimizers = checkpoint['optimizer']
    assert set(optimizers) == {'backbone', 'head', 'decoder'}
    # both optimisers took their first step (SGD momentum, Adam moments)
    assert all(state['step'] == 2 for state in
               optimizers['decoder']['state'].values())
    assert optimizers['head']['state'] and all(
        'momentum_buffer' in state
        for state in optimizers['head']['state'].values())
