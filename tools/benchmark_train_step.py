"""Time one training step (forward, backward, optimiser step) of the model
of each config on random images, in the state of the last training epoch
(all losses active: after the erasing start epoch of the CAM methods, after
BECO's warm-up), and print the median step time of each config, images per
second and the ratio to the first.

    python tools/benchmark_train_step.py CONFIG [CONFIG ...]
        [--batch-size 16] [--size 128 128] [--steps 10] [--device cpu]

Methods trained on a ``ClassPairedDataset`` (KTSE, KTSE+) get a random
partner batch with the anchors' labels; segmentors (stage 3) get random
label maps and confidence masks. Data loading is not timed.
"""
import argparse
import statistics
import time
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmengine.structures import PixelData

from wsstool.models.segmentors import BaseSegmentor
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the training step of CAM methods and '
        'segmentors')
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128),
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--steps', type=int, default=10,
                        help='timed steps after 2 warm-up steps')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def random_samples(num_classes: int, batch_size: int, size: Sequence[int],
                   generator: torch.Generator) -> List[WSSSDataSample]:
    """Samples with 1-2 random classes each."""
    samples = []
    for _ in range(batch_size):
        label = torch.zeros(num_classes)
        label[torch.randperm(num_classes, generator=generator)[:1 + int(
            torch.rand(1, generator=generator) < 0.5)]] = 1
        sample = WSSSDataSample(
            metainfo=dict(img_shape=tuple(size), ori_shape=tuple(size)))
        sample.gt_label = label
        samples.append(sample)
    return samples


def add_random_label_maps(samples: List[WSSSDataSample], num_classes: int,
                          generator: torch.Generator) -> None:
    """Give every sample a random (1, H, W) label map over ``num_classes``
    ids and a random confidence mask, as a segmentor trains on."""
    for sample in samples:
        size = (1, *sample.img_shape)
        sample.gt_sem_seg = PixelData(data=torch.randint(
            num_classes, size, generator=generator))
        sample.conf_mask = PixelData(
            data=torch.rand(size, generator=generator) < 0.7)


def add_block_superpixels(samples: List[WSSSDataSample],
                          block: int = 8) -> None:
    """Give every sample (1, H, W) superpixel ids of ``block`` x ``block``
    squares, as SSC trains on."""
    for sample in samples:
        h, w = sample.img_shape
        rows = torch.arange(h)[:, None] // block
        cols = torch.arange(w)[None] // block
        sample.superpixel = PixelData(
            data=(rows * -(-w // block) + cols)[None])


def uses_superpixels(cfg: Config) -> bool:
    """Whether the training pipeline computes superpixels (SSC)."""
    pipeline = cfg.train_dataloader.dataset.get('pipeline', [])
    return any(t.get('type') == 'ComputeSuperpixels' for t in pipeline)


def step_seconds(config: str, args: argparse.Namespace) -> float:
    """Median seconds of a training step of ``config``'s model."""
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'wsstool'))
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model).to(device).train()
    if hasattr(model, 'set_epoch'):
        model.set_epoch(cfg.train_cfg.max_epochs - 1)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    generator = torch.Generator().manual_seed(args.seed)
    is_segmentor = isinstance(model, BaseSegmentor)
    num_classes = model.num_classes if is_segmentor else model.head.num_classes
    shape = (args.batch_size, 3, *args.size)
    samples = random_samples(num_classes, args.batch_size, args.size,
                             generator)
    if is_segmentor:
        add_random_label_maps(samples, num_classes, generator)
    if uses_superpixels(cfg):
        add_block_superpixels(samples)
    data = dict(
        inputs=torch.randn(shape, generator=generator).to(device),
        data_samples=samples)
    if cfg.train_dataloader.dataset.type == 'ClassPairedDataset':
        data.update(
            partner_inputs=torch.randn(shape, generator=generator).to(device),
            partner_data_samples=[sample.clone() for sample in samples])
    times = []
    for step in range(args.steps + 2):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        if step >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    results = [(config, step_seconds(config, args)) for config in args.configs]
    first = results[0][1]
    print(f'batch {args.batch_size} at {args.size[0]}x{args.size[1]} on '
          f'{args.device}, median of {args.steps} steps')
    for config, seconds in results:
        print(f'{config}: {seconds:.3f} s/step, '
              f'{args.batch_size / seconds:.1f} images/s, '
              f'{seconds / first:.2f}x')


if __name__ == '__main__':
    main()
