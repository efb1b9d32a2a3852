"""Train a wsstool model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from wsstool.utils import (cpu_ddp_wrapper_cfg, init_cpu_process_group,
                           register_safe_checkpoint_loader)
from wsstool.utils.config_check import check_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a wsstool model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None, metavar='CKPT',
        help='resume from CKPT, or from the latest checkpoint of the work '
        'directory when no CKPT is given')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed-precision training (AmpOptimWrapper, dynamic loss scale)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch >= 2.0 launchers pass --local-rank; older ones --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA GPU; none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.launcher != 'none':
        cpu_ddp_wrapper_cfg(cfg)
    check_config(cfg)
    return cfg


def main() -> None:
    args = parse_args()
    register_safe_checkpoint_loader()
    cfg = build_config(args)
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
