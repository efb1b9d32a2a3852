"""Time multi-scale + flip CAM inference: the batched path of
``CAMClassifier.predict`` (per scale, all images and their flips in one
forward pass) against running every scale and flip of every image as its own
forward pass, as the reference ``infer_multi`` scripts do. Both must give the
same CAMs; the largest difference is printed.

    python tools/benchmark_cam_inference.py CONFIG [--images 16]
        [--batch-size 8] [--size 128 128] [--repeat 3] [--device cpu]

The model keeps its random initialisation: speed does not depend on weights.
"""
import argparse
import statistics
import time
from typing import Callable, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.registry import MODELS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark batched vs one-by-one multi-scale + flip CAM '
        'inference')
    parser.add_argument('config', help='config whose model and test_cfg '
                        '(scales, flip) are timed')
    parser.add_argument('--images', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128),
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--repeat', type=int, default=3,
                        help='timed runs per path (median reported)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def batched_cams(model, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """CAMs (N, C, H, W) of the batched path, ``batch_size`` images at a
    time."""
    return torch.cat([
        model.multi_scale_cams(images[start:start + batch_size])[0]
        for start in range(0, len(images), batch_size)
    ])


def one_by_one_cams(model, images: torch.Tensor) -> torch.Tensor:
    """CAMs (N, C, H, W) with one forward pass per image, scale and flip:
    the model's test_cfg restricted to one scale and no flip at a time."""
    test_cfg = dict(model.test_cfg)
    flips = (False, True) if test_cfg['flip'] else (False, )
    cams = []
    try:
        for image in images.split(1):
            total = 0
            for scale in test_cfg['scales']:
                model.test_cfg = dict(test_cfg, scales=(scale, ), flip=False)
                for flip in flips:
                    view = image.flip(-1) if flip else image
                    cam = model.multi_scale_cams(view)[0]
                    total = total + (cam.flip(-1) if flip else cam)
            cams.append(total)
    finally:
        model.test_cfg = test_cfg
    return torch.cat(cams)


def median_seconds(run: Callable[[], torch.Tensor], repeat: int,
                   device: torch.device) -> tuple:
    """(median seconds over ``repeat`` runs after one warm-up, output)."""
    output = run()
    times: List[float] = []
    for _ in range(repeat):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        output = run()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), output


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'wsstool'))
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    device = torch.device(args.device)
    model = MODELS.build(cfg.model).to(device).eval()
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.images, 3, *args.size,
                         generator=generator).to(device)
    test_cfg = model.test_cfg
    passes = len(test_cfg['scales']) * (2 if test_cfg['flip'] else 1)
    with torch.no_grad():
        batched_time, batched = median_seconds(
            lambda: batched_cams(model, images, args.batch_size),
            args.repeat, device)
        single_time, single = median_seconds(
            lambda: one_by_one_cams(model, images), args.repeat, device)
    difference = (batched - single).abs().max().item()
    print(f'{type(model).__name__} on {device}, {args.images} images '
          f'{args.size[0]}x{args.size[1]}, {passes} passes each '
          f'(scales {tuple(test_cfg["scales"])}, flip {test_cfg["flip"]})')
    print(f'batched ({args.batch_size} images per pass): '
          f'{args.images / batched_time:.2f} images/s')
    print(f'one by one: {args.images / single_time:.2f} images/s')
    print(f'speed-up: {single_time / batched_time:.2f}x; '
          f'max |difference| of the CAMs: {difference:.2e}')


if __name__ == '__main__':
    main()
