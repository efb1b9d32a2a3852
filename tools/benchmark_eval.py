"""Time the single-pass CAM threshold sweep of ``CAMIoUMetric`` against
recomputing the prediction (argmax over [background = t, CAMs]) and its
confusion matrix at every threshold, on the same random CAMs. Both must give
identical confusion matrices.

    python tools/benchmark_eval.py [--images 50] [--size 375 500]
        [--present 3] [--num-classes 21] [--thresholds 0 0.6 0.01]
"""
import argparse
import logging
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger

from wsstool.evaluation import CAMIoUMetric, confusion_matrix, threshold_grid


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the single-pass CAM threshold sweep')
    parser.add_argument('--images', type=int, default=50)
    parser.add_argument(
        '--size', type=int, nargs=2, default=(375, 500),
        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument(
        '--present', type=int, default=3,
        help='foreground classes with a CAM per image')
    parser.add_argument(
        '--num-classes', type=int, default=21,
        help='classes including background')
    parser.add_argument(
        '--thresholds', type=float, nargs=3, default=(0., 0.6, 0.01),
        metavar=('START', 'STOP', 'STEP'), help='sweep, STOP included')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def random_samples(args: argparse.Namespace) -> List[dict]:
    """Metric inputs with uniform random CAMs of ``--present`` classes and
    ground truth drawn from background, those classes and ignore (255)."""
    generator = torch.Generator().manual_seed(args.seed)
    height, width = args.size
    samples = []
    for _ in range(args.images):
        keys = torch.randperm(
            args.num_classes - 1, generator=generator)[:args.present].sort()[0]
        labels = torch.cat([torch.tensor([0, 255]), keys + 1])
        gt = labels[torch.randint(
            len(labels), (1, height, width), generator=generator)]
        cam = torch.rand((len(keys), height, width), generator=generator)
        samples.append(
            dict(
                pred_cam=dict(cam=cam, class_ids=keys),
                gt_sem_seg=dict(data=gt)))
    return samples


def single_pass(samples: List[dict], thresholds: np.ndarray,
                num_classes: int) -> np.ndarray:
    """Confusion matrices (T, N, N) from ``CAMIoUMetric``."""
    metric = CAMIoUMetric(
        thresholds=thresholds.tolist(), num_classes=num_classes)
    metric.process(None, samples)
    metric.compute_metrics(metric.results)
    return metric.confusion_matrices


def per_threshold(samples: List[dict], thresholds: np.ndarray,
                  num_classes: int) -> np.ndarray:
    """Confusion matrices (T, N, N) by building the prediction of every
    threshold, as the reference evaluators do."""
    confusions = torch.zeros((len(thresholds), num_classes, num_classes),
                             dtype=torch.int64)
    for sample in samples:
        cam = sample['pred_cam']['cam']
        keys = sample['pred_cam']['class_ids']
        labels = torch.cat([torch.zeros(1, dtype=torch.int64), keys + 1])
        gt = sample['gt_sem_seg']['data'][0]
        for j, t in enumerate(thresholds.astype(np.float32)):
            scores = torch.cat([torch.full_like(cam[:1], float(t)), cam])
            pred = labels[scores.max(0).indices]
            confusions[j] += confusion_matrix(gt, pred, num_classes)
    return confusions.numpy()


def timed(function, *args) -> tuple:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    thresholds = threshold_grid(
        dict(zip(('start', 'stop', 'step'), args.thresholds)))
    samples = random_samples(args)
    torch.set_num_threads(1)
    # keep the metric's per-class table out of the benchmark output
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    print(f'{args.images} images of {args.size[0]}x{args.size[1]}, '
          f'{args.present} CAMs each, {args.num_classes} classes, '
          f'{len(thresholds)} thresholds; torch threads: 1')
    fast, fast_seconds = timed(single_pass, samples, thresholds,
                               args.num_classes)
    slow, slow_seconds = timed(per_threshold, samples, thresholds,
                               args.num_classes)
    if not np.array_equal(fast, slow):
        raise RuntimeError('the single pass and the per-threshold '
                           'recomputation disagree')
    for name, seconds in (('single pass', fast_seconds),
                          ('per-threshold recomputation', slow_seconds)):
        print(f'{name:>30}: {args.images / seconds:8.2f} images/s '
              f'({seconds:.2f} s)')
    print(f'{"speed-up":>30}: {slow_seconds / fast_seconds:8.1f}x '
          '(identical confusion matrices)')


if __name__ == '__main__':
    main()
