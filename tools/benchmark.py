"""Run a benchmark set (stage-1 configs and/or pipelines with the same
budget and seeds) and compare the methods.

    python tools/benchmark.py configs/benchmarks/stage1_synthvoc.py
    python tools/benchmark.py configs/benchmarks/stage1_synthvoc.py \\
        --seeds 0 1 2 --only 'CAM baseline' KTSE

Every (entry, seed) runs as a pipeline in
``<work_dir>/<entry slug>/seed_<seed>/``; runs that finished are not
repeated, so the same command resumes an interrupted benchmark. The work
dir (default ``work_dirs/benchmarks/<set file stem>``) then holds
``benchmark.json`` (per-seed metrics, mean, sample std, n),
``benchmark.md`` (the table printed at the end), ``miou_bars.png`` and
``cam_curves.png``, which summarise every finished run of the set in the
work dir, also those that --only or --seeds left out of this command. See
docs/benchmarking.md.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from wsstool.apis.benchmark import (load_benchmark_set, render_markdown,
                                    run_benchmark)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run a benchmark set and compare its methods')
    parser.add_argument('set', help='benchmark set file, e.g. '
                        'configs/benchmarks/stage1_synthvoc.py')
    parser.add_argument('--seeds', nargs='+', type=int,
                        help="seeds of every entry (default: the set's)")
    parser.add_argument(
        '--work-dir',
        help='output folder (default work_dirs/benchmarks/<set file stem>)')
    parser.add_argument('--only', nargs='+', metavar='NAME',
                        help='run only these entries (by name); the outputs '
                        'still summarise every finished run')
    parser.add_argument(
        '--nproc', type=int, default=1,
        help='processes per run, passed to the pipeline (default 1)')
    parser.add_argument(
        '--data-root',
        help="dataset root of every run (default: each pipeline's or "
        "config's own)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    bench_set = load_benchmark_set(args.set)
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'benchmarks',
        osp.splitext(osp.basename(args.set))[0])
    summary = run_benchmark(bench_set, work_dir, seeds=args.seeds,
                            only=args.only, nproc=args.nproc,
                            data_root=args.data_root)
    print(render_markdown(summary))
    return summary


if __name__ == '__main__':
    main()
