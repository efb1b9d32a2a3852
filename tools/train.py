"""Train a wsstool model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from wsstool.apis import check_checkpoint_shapes
from wsstool.utils import (cpu_ddp_wrapper_cfg, destroy_process_group,
                           init_cpu_process_group, setup_checkpoint_io)
from wsstool.utils.cli import (add_runtime_args, load_config,
                               parse_runtime_args, resolve_work_dir)
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
    add_runtime_args(parser)
    return parse_runtime_args(parser)


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
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
    setup_checkpoint_io()
    cfg = build_config(args)
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    if cfg.get('load_from') and not cfg.get('resume'):
        # mmengine only warns on shape mismatches and trains on
        check_checkpoint_shapes(runner.model, cfg.load_from)
    runner.train()
    destroy_process_group()


if __name__ == '__main__':
    main()
