"""Run a whole WSSS pipeline (e.g. KTSE -> CAMs -> IRN -> pseudo labels ->
BECO -> test) from one pipeline config, and print its results table.

    python tools/run_pipeline.py PIPELINE_CONFIG [--work-dir DIR]
        [--data-root DIR] [--seed N] [--nproc N] [--cfg-options key=value ...]

Each stage works in ``WORK_DIR/<stage>/``. Rerunning reuses the stages that
finished with the same settings, resumes an interrupted one (training from
its last checkpoint, inference from the first missing file) and reruns a
stage whose settings changed, with every stage after it. The table
(``WORK_DIR/results.md``, ``WORK_DIR/results.json``) holds the CAM mIoU,
pseudo-label mIoU, confidence-mask precision, segmentation mIoU and the
time of every stage. ``--nproc N`` runs the training, inference and test
stages in N processes (``tools/dist_run_pipeline.sh``).
"""
import argparse
import sys

from mmengine.config import DictAction

from wsstool.apis.pipeline import StageFailed, run_pipeline
from wsstool.utils.cli import load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run a whole WSSS pipeline from one pipeline config')
    parser.add_argument('config', help='pipeline config file')
    parser.add_argument(
        '--work-dir', help='pipeline folder (default: the config\'s '
        'work_dir, else work_dirs/pipelines/<config name>)')
    parser.add_argument(
        '--data-root', help='dataset root of every stage (overrides the '
        'config\'s data_root)')
    parser.add_argument(
        '--seed', type=int,
        help='randomness.seed of every training stage (with another '
        '--work-dir, to keep the runs of the config\'s own seed)')
    parser.add_argument(
        '--nproc', type=int, default=1,
        help='processes of each training, inference and test stage')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override pipeline config keys, e.g. '
        'stages.0.cfg_options.train_cfg.max_epochs=2')
    args = parser.parse_args()
    if args.nproc < 1:
        parser.error(f'--nproc must be >= 1, got {args.nproc}')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    if args.data_root is not None:
        cfg.data_root = args.data_root
    try:
        run_pipeline(cfg, args.work_dir, args.nproc, args.seed)
    except StageFailed as error:
        sys.exit(str(error))


if __name__ == '__main__':
    main()
