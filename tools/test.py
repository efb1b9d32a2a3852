"""Evaluate a trained wsstool model with the config's test evaluator.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--tta] [--crf] [--pred-dir DIR [--save-logits] [--voc-test-format]
        [--format-only]] [--cfg-options key=value ...]
        [--launcher {none,pytorch,slurm,mpi}]

``--tta`` and ``--crf`` merge the config's ``tta_test_cfg`` and
``crf_test_cfg`` into ``model.test_cfg``; ``--pred-dir`` writes the
predictions with :class:`SegPredictionWriterHook`; ``--format-only`` only
writes them (a split without ground truth, e.g. VOC test). ``--out`` also
receives the metrics as ``metrics.json``.
"""
import argparse
import json
import os.path as osp

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from wsstool.apis import load_model_weights
from wsstool.fileio import atomic_write
from wsstool.utils import (cpu_ddp_wrapper_cfg, destroy_process_group,
                           init_cpu_process_group, setup_checkpoint_io)
from wsstool.utils.cli import (add_runtime_args, load_config,
                               parse_runtime_args, resolve_work_dir)
from wsstool.utils.config_check import check_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a wsstool model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the logs')
    parser.add_argument(
        '--out', help='directory where the evaluator writes its outputs '
        '(metrics.json, confusion matrices, threshold curve)')
    parser.add_argument(
        '--tta', action='store_true',
        help="test-time augmentation: merge the config's tta_test_cfg "
        '(scales, flip, fusion) into model.test_cfg')
    parser.add_argument(
        '--crf', action='store_true',
        help="dense-CRF post-processing: merge the config's crf_test_cfg "
        'into model.test_cfg')
    parser.add_argument(
        '--pred-dir', help='write the predicted label maps to DIR/pred/')
    parser.add_argument(
        '--save-logits', action='store_true',
        help='also write the logits (float16 .npz) to DIR/logits/ '
        '(needs --pred-dir)')
    parser.add_argument(
        '--voc-test-format', action='store_true',
        help='write the label maps in the PASCAL VOC evaluation-server '
        'layout DIR/results/VOC2012/Segmentation/comp6_test_cls/ '
        '(needs --pred-dir)')
    parser.add_argument(
        '--format-only', action='store_true',
        help='compute no metric and load no ground truth, only write the '
        'predictions (a test split without labels; needs --pred-dir)')
    add_runtime_args(parser)
    return parse_runtime_args(parser)


def merge_into_test_cfg(cfg: Config, key: str, option: str) -> None:
    """Update ``cfg.model.test_cfg`` with the config's ``key`` dict (the
    settings behind the command-line ``option``)."""
    extra = cfg.get(key)
    if extra is None:
        raise KeyError(
            f'{option} needs `{key}` in the config (the model.test_cfg '
            f'entries it switches on), but {cfg.filename} defines none; add '
            f'e.g. `{key} = dict(...)` or leave out {option}')
    cfg.model.test_cfg = {**(cfg.model.get('test_cfg') or {}), **extra}


def drop_ground_truth(cfg: Config) -> None:
    """Test images without annotations: no metric, no label map loaded, no
    label folder, no image-level labels."""
    cfg.test_evaluator = []
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset:  # dataset wrappers
        dataset = dataset.dataset
    dataset.pipeline = [
        step for step in dataset.pipeline
        if step['type'] != 'LoadWSSSAnnotations'
    ]
    if dataset.get('data_prefix') is not None:
        dataset.data_prefix.seg_map_path = None
    dataset.with_cls_labels = False


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    writer_options = dict(
        save_logits='--save-logits',
        voc_test_format='--voc-test-format',
        format_only='--format-only')
    for name, option in writer_options.items():
        if getattr(args, name) and args.pred_dir is None:
            raise ValueError(f'{option} needs --pred-dir')
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
    if args.tta:
        merge_into_test_cfg(cfg, 'tta_test_cfg', '--tta')
    if args.crf:
        merge_into_test_cfg(cfg, 'crf_test_cfg', '--crf')
    if args.pred_dir is not None:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(
                type='SegPredictionWriterHook',
                out_dir=args.pred_dir,
                save_logits=args.save_logits,
                voc_test_format=args.voc_test_format)
        ]
    if args.format_only:
        drop_ground_truth(cfg)
    elif args.out is not None:
        evaluators = cfg.test_evaluator
        for evaluator in (evaluators if isinstance(evaluators, list) else
                          [evaluators]):
            evaluator['output_dir'] = args.out
    if args.launcher != 'none':
        cpu_ddp_wrapper_cfg(cfg)
    cfg.load_from = None  # weights are loaded below, with shape checks
    check_config(cfg)
    return cfg


def main() -> None:
    args = parse_args()
    setup_checkpoint_io()
    cfg = build_config(args)
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    load_model_weights(runner.model, args.checkpoint)
    metrics = runner.test()
    if args.out is not None and not args.format_only and is_main_process():
        with atomic_write(osp.join(args.out, 'metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2, default=float)
    destroy_process_group()


if __name__ == '__main__':
    main()
