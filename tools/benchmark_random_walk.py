"""Time and peak memory of the sparse and the dense random walk.

    python tools/benchmark_random_walk.py [--sizes 16x16 32x32 64x64 94x125]
        [--steps 256] [--classes 3] [--beta 10] [--radius 5]
        [--device cpu] [--skip-dense-above 4096] [--repeat 3] [--threads N]

Each strided grid size h x w (N = h * w nodes) gets a random boundary map,
its ``'full'`` PathIndex affinities and random class scores; both walks run
on the same inputs, building their transition matrix inside the timed call.
Peak memory is what the walk adds: on CUDA the growth of
``torch.cuda.max_memory_allocated``; on the CPU every (mode, size) runs in a
new process of its own and reports the growth of its peak resident set size
(``ru_maxrss``) over the level reached after imports, input construction and
warm-up walks on an 8 x 8 grid. Times are medians of ``--repeat`` walks. The
table also gives the dense/sparse ratios, the largest score difference and
the argmax agreement; the growth of time and memory with N is fitted as a
power law N^k.

The dense walk needs several N x N float32 matrices (0.5 GiB each at the VOC
grid 94 x 125) and 2 N^3 FLOP per squaring, hence ``--skip-dense-above``.
"""
import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from wsstool.models.refiners.random_walk import RandomWalk
from wsstool.models.utils.path_index import PathIndex, boundary_affinities

MODES = ('sparse', 'dense')
WARM_UP_SIZE = (8, 8)
WARM_UP_WALKS = 3  # the first two walks of a process carry one-off costs
START_METHOD = ('forkserver' if 'forkserver'
                in multiprocessing.get_all_start_methods() else 'spawn')
PRELOAD = ['torch', 'wsstool.models.refiners.random_walk']


def grid_size(text: str) -> Tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'grid size must look like 32x48, got {text!r}') from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(
            f'grid size must be positive, got {text!r}')
    return height, width


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the sparse against the dense random walk')
    parser.add_argument('--sizes', type=grid_size, nargs='+',
                        default=[(16, 16), (32, 32), (48, 48), (64, 64),
                                 (94, 125)],
                        metavar='HxW', help='strided grid sizes (VOC 94x125)')
    parser.add_argument('--steps', type=int, default=256,
                        help='walk length (a power of 2 for the dense walk)')
    parser.add_argument('--classes', type=int, default=3,
                        help='score channels walked')
    parser.add_argument('--beta', type=float, default=10.)
    parser.add_argument('--radius', type=float, default=5.)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip-dense-above', type=int, default=4096,
                        metavar='N', help='no dense walk on grids of more '
                        'than N nodes')
    parser.add_argument('--repeat', type=int, default=3,
                        help='timed walks per (mode, size), median reported')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads of the walks (default: '
                        "torch's); 1 steadies timings on a busy machine")
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def make_inputs(size: Tuple[int, int], options: Dict) -> Tuple:
    """Random (K, h, w) scores, (D, h, w) affinities and (D, 2)
    directions on ``options['device']``."""
    generator = torch.Generator().manual_seed(options['seed'])
    boundary = torch.rand(1, *size, generator=generator)**3
    scores = torch.rand(options['classes'], *size, generator=generator)
    path_index = PathIndex(options['radius'])
    affinities = boundary_affinities(boundary, path_index, 'full')[0]
    device = torch.device(options['device'])
    return (scores.to(device), affinities.to(device),
            path_index.directions.to(device))


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == 'darwin' else peak * 1024


def _synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure_walk(mode: str, size: Tuple[int, int], options: Dict) -> Dict:
    """Median seconds of ``options['repeat']`` walks, the peak MiB they add
    and the (K, h, w) scores (on the CPU)."""
    device = torch.device(options['device'])
    if options['threads']:
        torch.set_num_threads(options['threads'])
    walk = RandomWalk(options['beta'], options['steps'], mode)
    warm_up_inputs = make_inputs(WARM_UP_SIZE, options)
    for _ in range(WARM_UP_WALKS):
        walk(*warm_up_inputs)
    inputs = make_inputs(size, options)
    _synchronize(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    else:
        baseline = _peak_rss_bytes()
    times = []
    for _ in range(options['repeat']):
        start = time.perf_counter()
        walked = walk(*inputs)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device)
            if device.type == 'cuda' else _peak_rss_bytes())
    return dict(seconds=statistics.median(times),
                peak_mib=(peak - baseline) / 2**20,
                scores=walked.cpu())


def measure(mode: str, size: Tuple[int, int], options: Dict) -> Dict:
    """:func:`measure_walk`; on the CPU in a new process of its own, so that
    the peak resident set size is that of this walk alone. The processes
    fork from a server that imported the libraries once (spawned where
    ``forkserver`` is not available); they import this script by its module
    name, so when it is not run as the main script its folder must be on
    ``sys.path``."""
    if torch.device(options['device']).type == 'cuda':
        return measure_walk(mode, size, options)
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == 'forkserver':
        context.set_forkserver_preload(PRELOAD)
    with context.Pool(1) as pool:
        return pool.apply(measure_walk, (mode, size, options))


def power_law_exponent(nodes: Sequence[int],
                       values: Sequence[float]) -> Optional[float]:
    """k of the least-squares fit values ~ c N^k over the positive values;
    None with fewer than two."""
    points = [(n, v) for n, v in zip(nodes, values) if v > 0]
    if len(points) < 2:
        return None
    log_n, log_v = np.log(np.array(points, dtype=np.float64)).T
    return float(np.polyfit(log_n, log_v, 1)[0])


def _cell(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def print_report(rows: List[Dict], args: argparse.Namespace) -> None:
    threads = args.threads or torch.get_num_threads()
    where = (args.device if torch.device(args.device).type == 'cuda' else
             f'{args.device} ({threads} threads)')
    print(f'random walk on {where}: {args.steps} steps, {args.classes} '
          f'classes, beta {args.beta}, radius {args.radius}')
    header = ('grid', 'N', 'sparse s', 'dense s', 'time x', 'sparse MiB',
              'dense MiB', 'mem x', 'max |diff|', 'argmax agree')
    print(' | '.join(header))
    for row in rows:
        sparse, dense = row['sparse'], row['dense']
        print(' | '.join([
            f'{row["size"][0]}x{row["size"][1]}',
            str(row['nodes']),
            _cell(sparse['seconds'], '.4f'),
            _cell(dense and dense['seconds'], '.4f'),
            _cell(row['time_ratio'], '.1f'),
            _cell(sparse['peak_mib'], '.1f'),
            _cell(dense and dense['peak_mib'], '.1f'),
            _cell(row['memory_ratio'], '.1f'),
            _cell(row['max_abs_diff'], '.2e'),
            _cell(row['agreement'], '.4%'),
        ]))
    nodes = [row['nodes'] for row in rows]
    for mode in MODES:
        measured = [(n, row[mode]) for n, row in zip(nodes, rows)
                    if row[mode] is not None]
        time_k = power_law_exponent([n for n, _ in measured],
                                    [m['seconds'] for _, m in measured])
        memory_k = power_law_exponent([n for n, _ in measured],
                                      [m['peak_mib'] for _, m in measured])
        print(f'{mode}: time ~ N^{_cell(time_k, ".2f")}, '
              f'peak memory ~ N^{_cell(memory_k, ".2f")}')


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return numerator / denominator if denominator > 0 else None


def benchmark_size(size: Tuple[int, int], args: argparse.Namespace,
                   options: Dict) -> Dict:
    """Measurements of both walks (dense None when skipped) on one grid."""
    nodes = size[0] * size[1]
    sparse = measure('sparse', size, options)
    row = dict(size=size, nodes=nodes, sparse=sparse, dense=None,
               time_ratio=None, memory_ratio=None, max_abs_diff=None,
               agreement=None)
    if nodes > args.skip_dense_above:
        return row
    dense = measure('dense', size, options)
    difference = (sparse['scores'] - dense['scores']).abs().max().item()
    agreement = (sparse['scores'].argmax(0) == dense['scores'].argmax(0))
    row.update(dense=dense,
               time_ratio=_ratio(dense['seconds'], sparse['seconds']),
               memory_ratio=_ratio(dense['peak_mib'], sparse['peak_mib']),
               max_abs_diff=difference,
               agreement=agreement.float().mean().item())
    return row


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Run the benchmark, print the table and return its rows."""
    args = parse_args(argv)
    runs_dense = any(h * w <= args.skip_dense_above for h, w in args.sizes)
    # checks beta and steps (a power of 2 when a dense walk runs)
    RandomWalk(args.beta, args.steps, 'dense' if runs_dense else 'sparse')
    if args.classes < 1 or args.repeat < 1:
        raise ValueError(f'--classes and --repeat must be >= 1, got '
                         f'{args.classes} and {args.repeat}.')
    options = dict(steps=args.steps, classes=args.classes, beta=args.beta,
                   radius=args.radius, device=args.device, seed=args.seed,
                   repeat=args.repeat, threads=args.threads)
    rows = [benchmark_size(size, args, options) for size in args.sizes]
    print_report(rows, args)
    return rows


if __name__ == '__main__':
    main()
