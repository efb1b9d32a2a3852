"""Command-line arguments shared by the tools."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch >= 2.0 launchers pass --local-rank; older ones --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runtime_args(parser: argparse.ArgumentParser,
                       argv: Optional[list] = None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that only pass the
    argument."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[dict]) -> Config:
    """Read a config file and apply ``--cfg-options``."""
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    return cfg


def resolve_work_dir(cfg: Config, config_path: str,
                     cli_work_dir: Optional[str]) -> str:
    """Work directory by priority: command line, config, then
    ``./work_dirs/<config name>``."""
    if cli_work_dir is not None:
        return cli_work_dir
    if cfg.get('work_dir') is not None:
        return cfg.work_dir
    return osp.join('./work_dirs',
                    osp.splitext(osp.basename(config_path))[0])
