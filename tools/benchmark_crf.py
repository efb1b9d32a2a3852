"""Time the dense CRF on synthetic VOC-like images: relation labels per
second with 1 and 2 worker processes (``irn_label`` through
ThresholdRelationLabel, ``psa_prob`` through AlphaRelationLabel; two CRF
passes per image each), and the speed-up of restricting a 21-class
``psa_prob`` CRF to the classes present in the image.

    python tools/benchmark_crf.py [--size 375 500] [--images 4]
        [--classes 3] [--workers 1 2] [--repeat 3] [--seed 0]

An image has a smooth colour gradient, ``--classes`` flat ellipses and mild
noise; the CAM of an ellipse decays smoothly from its centre (0.25 on its
border).
"""
import argparse
import statistics
import time
from functools import partial
from typing import Callable, Optional, Sequence

import numpy as np

from wsstool.models.refiners.dense_crf import DenseCRF, crf_present_classes
from wsstool.models.refiners.relation_label import (AlphaRelationLabel,
                                                    ThresholdRelationLabel)
from wsstool.utils.process_pool import process_pool

NUM_VOC_CLASSES = 20
# spread of a CAM around its ellipse, in ellipse radii (0.25 on the border)
CAM_SPREAD = 0.6
NOISE_STD = 6


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark dense-CRF relation labels and the present-'
        'class restriction')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500),
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--images', type=int, default=4)
    parser.add_argument('--classes', type=int, default=3,
                        help='foreground classes per image')
    parser.add_argument('--workers', type=int, nargs='+', default=(1, 2),
                        help='worker process counts to time')
    parser.add_argument('--repeat', type=int, default=3,
                        help='timed runs per setting (median reported)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.size) < 8 or args.images < 1 or args.repeat < 1 or min(
            args.workers) < 1:
        parser.error('--size must be >= 8 and --images, --repeat, '
                     '--workers >= 1')
    if not 1 <= args.classes <= NUM_VOC_CLASSES:
        parser.error(f'--classes must be in [1, {NUM_VOC_CLASSES}], got '
                     f'{args.classes}')
    return args


def synthetic_sample(size: Sequence[int], num_classes: int,
                     rng: np.random.Generator) -> tuple:
    """(image (H, W, 3) RGB uint8, keys (K,) int64, cams (K, H, W) float32
    max-normalised) of one synthetic image."""
    height, width = size
    y, x = np.mgrid[:height, :width] / np.array(size)[:, None, None]
    start, end = rng.uniform(40, 215, (2, 3))
    image = start + (end - start) * ((x + y) / 2)[..., None]
    cams = []
    for _ in range(num_classes):
        cy, cx = rng.uniform(0.25, 0.75, 2)
        ry, rx = rng.uniform(0.12, 0.3, 2)
        radius = np.hypot((y - cy) / ry, (x - cx) / rx)
        image[radius <= 1] = rng.uniform(0, 255, 3)
        cams.append(np.exp(-radius**2 / (2 * CAM_SPREAD**2)))
    image += rng.normal(0, NOISE_STD, image.shape)
    keys = np.sort(rng.choice(NUM_VOC_CLASSES, num_classes, replace=False))
    return (np.clip(image, 0, 255).astype(np.uint8), keys.astype(np.int64),
            np.stack(cams).astype(np.float32))


def all_class_probs(keys: np.ndarray, cams: np.ndarray,
                    alpha: float = 4) -> np.ndarray:
    """(21, H, W) scores: (1 - max)^alpha background, the CAMs at their
    classes, 0 for absent classes."""
    probs = np.zeros((NUM_VOC_CLASSES + 1, *cams.shape[1:]), np.float32)
    probs[0] = np.power(1 - cams.max(axis=0), alpha)
    probs[keys + 1] = cams
    return probs


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def relation_label(refiner: Callable, sample: tuple) -> np.ndarray:
    """The relation label of one (image, keys, cams) sample."""
    return refiner(*sample)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    samples = [
        synthetic_sample(args.size, args.classes, rng)
        for _ in range(args.images)
    ]
    # imports pydensecrf before the workers fork
    crf = DenseCRF('psa_prob')
    crf(samples[0][0], samples[0][2][:1])
    refiners = {
        'ThresholdRelationLabel (irn_label)': ThresholdRelationLabel(),
        'AlphaRelationLabel (psa_prob)': AlphaRelationLabel(),
    }
    print(f'{args.images} synthetic images {args.size[0]}x{args.size[1]}, '
          f'{args.classes} classes each; median of {args.repeat} runs')
    print(f'| relation labels | workers | images/s | vs {args.workers[0]} |')
    print('|---|---|---|---|')
    for name, refiner in refiners.items():
        first = None
        for workers in args.workers:
            with process_pool(workers) as pool:
                seconds = median_seconds(
                    lambda: pool.map(
                        partial(relation_label, refiner), samples,
                        chunksize=1), args.repeat)
            speed = args.images / seconds
            first = first or speed
            print(f'| {name} | {workers} | {speed:.4g} | '
                  f'{speed / first:.2f}x |')

    runs = {
        'all 21 classes':
        lambda: [
            crf(image, all_class_probs(keys, cams))
            for image, keys, cams in samples
        ],
        'present only':
        lambda: [
            crf_present_classes(crf, image, all_class_probs(keys, cams),
                                np.isin(np.arange(NUM_VOC_CLASSES + 1),
                                        [0, *(keys + 1)]))
            for image, keys, cams in samples
        ],
    }
    seconds = {
        name: median_seconds(run, args.repeat) / args.images
        for name, run in runs.items()
    }
    print()
    print('| psa_prob CRF, 1 process | s/image | speed-up |')
    print('|---|---|---|')
    for name, value in seconds.items():
        print(f'| {name} | {value:.4g} | '
              f'{seconds["all 21 classes"] / value:.2f}x |')


if __name__ == '__main__':
    main()
