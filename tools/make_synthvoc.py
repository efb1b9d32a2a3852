"""Generate the SynthVOC dataset and print a summary of its statistics.

    python tools/make_synthvoc.py --out data/synthvoc [--seed 0]
        [--num-train-aug 480] [--num-train 100] [--num-val 100]
        [--size 128] [--num-classes 8] [--min-aspect 0.75]
        [--num-objects-probs 0.45 0.35 0.2] [--object-scale 0.35 0.8]
        [--part-fraction 0.08] [--cooccurrence-prob 0.85]
        [--occlusion-prob 0.5] [--hidden-part-prob 0.25] [--void-width 1]
        [--jpeg-quality 90]

Unset options take the defaults of ``SynthVOCParams``, which are also the
defaults of ``SynthVOCDataset``; a dataset built with other values must be
used with the same values in the dataset's ``generator_cfg``.
"""
import argparse
import time
from collections import Counter
from typing import List, Optional

import numpy as np

from wsstool.datasets.synthvoc import SynthVOCParams, generate_synthvoc

# command-line option -> SynthVOCParams field
OPTIONS = {
    'seed': ('seed', int, None),
    'num_train_aug': ('num_train_aug', int, None),
    'num_train': ('num_train', int, None),
    'num_val': ('num_val', int, None),
    'size': ('image_size', int, None),
    'num_classes': ('num_classes', int, None),
    'min_aspect': ('min_aspect', float, None),
    'num_objects_probs': ('num_objects_probs', float, '+'),
    'object_scale': ('object_scale', float, 2),
    'part_fraction': ('part_fraction', float, None),
    'cooccurrence_prob': ('cooccurrence_prob', float, None),
    'occlusion_prob': ('occlusion_prob', float, None),
    'hidden_part_prob': ('hidden_part_prob', float, None),
    'void_width': ('void_width', int, None),
    'jpeg_quality': ('jpeg_quality', int, None),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate SynthVOC')
    parser.add_argument('--out', required=True,
                        help='dataset directory to create (must not exist '
                        'or be empty)')
    defaults = SynthVOCParams()
    for option, (field, type_, nargs) in OPTIONS.items():
        parser.add_argument(
            '--' + option.replace('_', '-'), dest=option, type=type_,
            nargs=nargs, help=f'{field} (default: {getattr(defaults, field)})')
    return parser.parse_args(argv)


def summarize(meta: dict) -> List[str]:
    """Summary lines of a ``synthvoc.json`` content."""
    images = meta['images']
    present = Counter()
    on_context = Counter()
    num_objects = Counter()
    part_fractions = []
    hidden_parts = 0
    multi_class = 0
    for info in images.values():
        names = {obj['name'] for obj in info['objects']}
        num_objects[len(info['objects'])] += 1
        multi_class += len(names) > 1
        for name in names:
            present[name] += 1
            on_context[name] += info['scene'] == meta['class_scenes'][name]
        part_fractions += [
            obj['part_area'] / obj['area'] for obj in info['objects']
            if obj['part_area']
        ]
        hidden_parts += sum(not obj['part_area'] for obj in info['objects'])
    lines = [
        'splits: ' + ', '.join(f'{split} {count}'
                               for split, count in meta['splits'].items()),
        'objects per image: ' + ', '.join(
            f'{n}: {num_objects[n]}' for n in sorted(num_objects)) +
        f'; images with several classes: {multi_class}/{len(images)}',
        ('visible part / visible object area: mean '
         f'{np.mean(part_fractions):.3f}, max {np.max(part_fractions):.3f}'
         if part_fractions else 'no visible parts') +
        f'; objects without a visible part: {hidden_parts}/'
        f'{sum(n * count for n, count in num_objects.items())}',
        'class (context scene): images, fraction on the context scene',
    ]
    for name, scene in meta['class_scenes'].items():
        rate = ('-' if scene is None else
                f'{on_context[name] / max(present[name], 1):.2f}')
        lines.append(f'  {name} ({scene or "any"}): {present[name]}, {rate}')
    return lines


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    params = SynthVOCParams.from_cfg({
        field: getattr(args, option)
        for option, (field, _, _) in OPTIONS.items()
        if getattr(args, option) is not None
    })
    start = time.perf_counter()
    meta = generate_synthvoc(args.out, params)
    print(f'SynthVOC written to {args.out} in '
          f'{time.perf_counter() - start:.1f} s')
    print('\n'.join(summarize(meta)))


if __name__ == '__main__':
    main()
