"""Evaluate a trained wsstool model with the config's test evaluator.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse

from mmengine.runner import Runner

from wsstool.apis import load_model_weights
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
        '(confusion matrices, threshold curve)')
    add_runtime_args(parser)
    return parse_runtime_args(parser)


def main() -> None:
    args = parse_args()
    setup_checkpoint_io()
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
    if args.out is not None:
        evaluators = cfg.test_evaluator
        for evaluator in (evaluators if isinstance(evaluators, list) else
                          [evaluators]):
            evaluator['output_dir'] = args.out
    if args.launcher != 'none':
        cpu_ddp_wrapper_cfg(cfg)
    cfg.load_from = None  # weights are loaded below, with shape checks
    check_config(cfg)
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    load_model_weights(runner.model, args.checkpoint)
    runner.test()
    destroy_process_group()


if __name__ == '__main__':
    main()
