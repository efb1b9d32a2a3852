"""Measure SynthVOC's failure modes on saved CAMs: partial activation
(coverage of each object's discriminative part versus the rest of it) and
background leakage on the classes' context scenes versus elsewhere.

    python tools/analyze_synthvoc_cams.py --cams DIR --data-root data/synthvoc
        [--split ImageSets/Segmentation/val.txt] --threshold T
        [--out FILE.json]

A pixel is activated for a class when the class is labelled in the image and
its CAM value exceeds ``T``; the CAMs of classes not labelled in the image are
ignored. Pixels of the void band (255) count nowhere. Per class:

* part coverage: activated fraction of its part pixels (``SegmentationPart``
  holds the class, ``SegmentationClass`` too);
* body coverage: activated fraction of its other object pixels;
* co-occurrence / generic leakage: activated fraction of the background
  pixels of the images labelled with the class whose scene is / is not the
  class's context scene (classes without a context scene have no
  co-occurrence leakage).

Class means average the classes that have the pixels a figure needs. Over
all images, background leakage is the fraction of background pixels
activated for some labelled class, in images whose scene is the context
scene of one of their classes (co-occurrence) and in the others (generic).
Counts are summed over the split before dividing.
"""
import argparse
import dataclasses
import json
import os.path as osp
from typing import NamedTuple, Optional, Sequence

import numpy as np

from wsstool.datasets.label_io import read_list_file
from wsstool.datasets.synthvoc import META_FILE
from wsstool.fileio import (atomic_write, find_cam_file, load_cam,
                            load_label_png)

# background groups: images on a context scene / on another scene
GROUPS = ('cooccurrence', 'generic')
METRICS = ('part_coverage', 'body_coverage', 'cooccurrence_leakage',
           'generic_leakage')
META_KEYS = ('classes', 'class_scenes', 'images')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Part / body coverage and background leakage of saved '
        'CAMs on SynthVOC')
    parser.add_argument(
        '--cams', required=True,
        help='folder of <id>.npz (or .npy) CAM files, e.g. from '
        'tools/infer_cam.py')
    parser.add_argument(
        '--data-root', required=True, help='SynthVOC dataset directory')
    parser.add_argument(
        '--split', default='ImageSets/Segmentation/val.txt',
        help='list file: a path (absolute or from the working directory) or '
        'relative to --data-root (default: %(default)s)')
    parser.add_argument(
        '--threshold', type=float, required=True,
        help='background threshold: a pixel is activated for a labelled '
        'class when its CAM value exceeds it')
    parser.add_argument('--out', help='JSON file for the results')
    args = parser.parse_args(argv)
    if not 0 <= args.threshold <= 1:
        parser.error(f'--threshold must lie in [0, 1] (the CAMs are '
                     f'max-normalised), got {args.threshold}')
    return args


class ImageCounts(NamedTuple):
    """Pixel counts of one image. The per-class arrays are (K,) int64,
    aligned with the image's CAM maps.

    Attributes:
        part_pixels: Object pixels of the class on its part.
        part_hits: Those activated for the class.
        body_pixels: Object pixels of the class off its part.
        body_hits: Those activated for the class.
        background_hits: Background pixels activated for the class.
        background_pixels: Background pixels of the image.
        background_any_hits: Background pixels activated for some class.
    """
    part_pixels: np.ndarray
    part_hits: np.ndarray
    body_pixels: np.ndarray
    body_hits: np.ndarray
    background_hits: np.ndarray
    background_pixels: int
    background_any_hits: int


def coverage_counts(cam_maps: np.ndarray, class_ids: np.ndarray,
                    gt: np.ndarray, part: np.ndarray,
                    threshold: float) -> ImageCounts:
    """Count the part, body and background pixels of one image and those
    activated (CAM > ``threshold``).

    Args:
        cam_maps (np.ndarray): (K, H, W) CAMs of the labelled classes.
        class_ids (np.ndarray): (K,) foreground class indices of the maps
            (0 = first foreground class, ground-truth id 1).
        gt (np.ndarray): (H, W) class ids, 0 background, 255 void.
        part (np.ndarray): (H, W) class id on visible parts, 0 elsewhere.
        threshold (float): Background threshold.
    """
    class_ids = np.asarray(class_ids)
    if (cam_maps.ndim != 3 or class_ids.shape != cam_maps.shape[:1]
            or cam_maps.shape[1:] != gt.shape or part.shape != gt.shape):
        raise ValueError(
            f'cam_maps {cam_maps.shape}, class_ids {class_ids.shape}, gt '
            f'{gt.shape} and part {part.shape}: expected (K, H, W), (K,), '
            '(H, W) and (H, W)')
    active = cam_maps > threshold
    gt_ids = (class_ids + 1)[:, None, None]
    on_object = gt[None] == gt_ids
    on_part = part[None] == gt_ids
    part_mask = on_object & on_part
    body_mask = on_object & ~on_part
    background = gt == 0
    background_active = active & background

    def count(mask: np.ndarray) -> np.ndarray:
        return mask.sum(axis=(1, 2), dtype=np.int64)

    return ImageCounts(
        part_pixels=count(part_mask),
        part_hits=count(part_mask & active),
        body_pixels=count(body_mask),
        body_hits=count(body_mask & active),
        background_hits=count(background_active),
        background_pixels=int(background.sum()),
        background_any_hits=int(background_active.any(axis=0).sum()))


@dataclasses.dataclass
class SplitCounts:
    """Counts summed over a split, int64. Per-class arrays are indexed by
    foreground class index; the leading axis of the background arrays by
    :data:`GROUPS`.

    Attributes:
        part_pixels, part_hits, body_pixels, body_hits: (C,).
        background_pixels, background_hits: (2, C) background of the images
            labelled with the class, on its context scene or elsewhere.
        class_images: (2, C) images labelled with the class, on its context
            scene or elsewhere.
        image_background_pixels, image_background_any_hits, images: (2,)
            over images on the context scene of one of their classes or not.
    """
    part_pixels: np.ndarray
    part_hits: np.ndarray
    body_pixels: np.ndarray
    body_hits: np.ndarray
    background_pixels: np.ndarray
    background_hits: np.ndarray
    class_images: np.ndarray
    image_background_pixels: np.ndarray
    image_background_any_hits: np.ndarray
    images: np.ndarray

    @classmethod
    def zeros(cls, num_classes: int) -> 'SplitCounts':
        shapes = dict(
            part_pixels=num_classes, part_hits=num_classes,
            body_pixels=num_classes, body_hits=num_classes,
            background_pixels=(2, num_classes),
            background_hits=(2, num_classes),
            class_images=(2, num_classes), image_background_pixels=2,
            image_background_any_hits=2, images=2)
        return cls(**{
            name: np.zeros(shape, np.int64)
            for name, shape in shapes.items()
        })

    def add(self, counts: ImageCounts, class_ids: np.ndarray,
            on_context: np.ndarray) -> None:
        """Add one image's counts.

        Args:
            counts (ImageCounts): From :func:`coverage_counts`.
            class_ids (np.ndarray): (K,) distinct foreground class indices.
            on_context (np.ndarray): (K,) bool, the image's scene is the
                class's context scene.
        """
        self.part_pixels[class_ids] += counts.part_pixels
        self.part_hits[class_ids] += counts.part_hits
        self.body_pixels[class_ids] += counts.body_pixels
        self.body_hits[class_ids] += counts.body_hits
        groups = np.where(on_context, 0, 1)
        self.background_pixels[groups, class_ids] += counts.background_pixels
        self.background_hits[groups, class_ids] += counts.background_hits
        self.class_images[groups, class_ids] += 1
        group = 0 if np.any(on_context) else 1
        self.image_background_pixels[group] += counts.background_pixels
        self.image_background_any_hits[group] += counts.background_any_hits
        self.images[group] += 1


def ratio(hits: int, pixels: int) -> Optional[float]:
    """``hits / pixels``, None without pixels."""
    return float(hits / pixels) if pixels else None


def mean_defined(values: Sequence[Optional[float]]) -> Optional[float]:
    """Mean of the values that are not None, None if all are."""
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def summarize(counts: SplitCounts, class_names: Sequence[str]) -> dict:
    """Per-class figures (:data:`METRICS` and image counts), their class
    means, and the background leakage over images by :data:`GROUPS`."""
    classes = {}
    for index, name in enumerate(class_names):
        figures = dict(
            part_coverage=ratio(counts.part_hits[index],
                                counts.part_pixels[index]),
            body_coverage=ratio(counts.body_hits[index],
                                counts.body_pixels[index]))
        for group_index, group in enumerate(GROUPS):
            figures[f'{group}_leakage'] = ratio(
                counts.background_hits[group_index, index],
                counts.background_pixels[group_index, index])
            figures[f'{group}_images'] = int(
                counts.class_images[group_index, index])
        classes[name] = figures
    mean = {
        metric: mean_defined([figures[metric] for figures in classes.values()])
        for metric in METRICS
    }
    leakage = {}
    for group_index, group in enumerate(GROUPS):
        leakage[group] = ratio(counts.image_background_any_hits[group_index],
                               counts.image_background_pixels[group_index])
        leakage[f'{group}_images'] = int(counts.images[group_index])
    return dict(classes=classes, mean=mean, background_leakage=leakage)


def load_meta(data_root: str) -> dict:
    """``synthvoc.json`` of ``data_root``, checked for :data:`META_KEYS`."""
    path = osp.join(data_root, META_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: --data-root must be a SynthVOC dataset '
            '(see tools/make_synthvoc.py)')
    with open(path, encoding='utf-8') as f:
        meta = json.load(f)
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise KeyError(f'{path} lacks the key(s) {missing}')
    return meta


def image_labels(meta: dict, img_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Labelled classes of an image from ``synthvoc.json``.

    Returns:
        tuple: (K,) int64 ascending foreground class indices and (K,) bool,
        the image's scene is the class's context scene.
    """
    info = meta['images'].get(img_id)
    if info is None:
        raise KeyError(f'{META_FILE} has no entry images[{img_id!r}]')
    for key in ('scene', 'objects'):
        if key not in info:
            raise KeyError(f'{META_FILE}: images[{img_id!r}] lacks {key!r}')
    foreground = list(meta['classes'][1:])
    names = {obj['name'] for obj in info['objects']}
    unknown = sorted(names - set(foreground))
    if unknown:
        raise KeyError(f'{META_FILE}: images[{img_id!r}] has objects of the '
                       f'classes {unknown}, not among {foreground}')
    class_ids = np.array(sorted(foreground.index(name) for name in names),
                         np.int64)
    on_context = np.array([
        meta['class_scenes'].get(foreground[index]) == info['scene']
        for index in class_ids
    ], bool)
    return class_ids, on_context


def labelled_cams(path: str, class_ids: np.ndarray) -> np.ndarray:
    """(K, H, W) CAMs of ``class_ids`` from a CAM file (other classes are
    dropped)."""
    keys, cams = load_cam(path)
    rows = {int(key): row for row, key in enumerate(keys)}
    missing = [int(c) for c in class_ids if int(c) not in rows]
    if missing:
        raise KeyError(f'{path} holds CAMs of the classes {keys.tolist()} but '
                       f'not of the labelled class(es) {missing}')
    return cams[[rows[int(c)] for c in class_ids]]


def existing_file(path: str, what: str) -> str:
    """``path``, which must exist."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: looked for {path}')
    return path


def image_counts(cams_dir: str, data_root: str, img_id: str,
                 class_ids: np.ndarray, threshold: float) -> ImageCounts:
    """Read one image's CAMs, ground truth and part map and count them."""
    cam_path = find_cam_file(cams_dir, img_id)
    gt = load_label_png(
        existing_file(
            osp.join(data_root, 'SegmentationClass', f'{img_id}.png'),
            'ground truth'))
    part = load_label_png(
        existing_file(
            osp.join(data_root, 'SegmentationPart', f'{img_id}.png'),
            'part map'))
    cam_maps = labelled_cams(cam_path, class_ids)
    if cam_maps.shape[1:] != gt.shape:
        raise ValueError(f'{cam_path} holds CAMs of size {cam_maps.shape[1:]}'
                         f' but the ground truth of {img_id} is {gt.shape}')
    return coverage_counts(cam_maps, class_ids, gt, part, threshold)


def analyze(cams_dir: str, data_root: str, split: str,
            threshold: float) -> dict:
    """Counts over the images of ``split`` (a list file), summarised by
    :func:`summarize`, with the number of images."""
    meta = load_meta(data_root)
    class_names = meta['classes'][1:]
    counts = SplitCounts.zeros(len(class_names))
    img_ids = read_list_file(split)
    for img_id in img_ids:
        class_ids, on_context = image_labels(meta, img_id)
        counts.add(
            image_counts(cams_dir, data_root, img_id, class_ids, threshold),
            class_ids, on_context)
    return dict(num_images=len(img_ids), **summarize(counts, class_names))


def format_table(result: dict) -> str:
    """Text table of a result of :func:`analyze`."""

    def cell(value: Optional[float]) -> str:
        return '-' if value is None else f'{value:.3f}'

    width = max(len(name) for name in list(result['classes']) + ['class'])
    header = (f'{"class":<{width}}  images(ctx/other)  part    body    '
              'leak(ctx)  leak(other)')
    lines = [header, '-' * len(header)]
    rows = list(result['classes'].items()) + [('mean', result['mean'])]
    for name, figures in rows:
        images = (f'{figures["cooccurrence_images"]}/'
                  f'{figures["generic_images"]}'
                  if name != 'mean' else '')
        lines.append(
            f'{name:<{width}}  {images:<17}  '
            f'{cell(figures["part_coverage"]):<6}  '
            f'{cell(figures["body_coverage"]):<6}  '
            f'{cell(figures["cooccurrence_leakage"]):<9}  '
            f'{cell(figures["generic_leakage"])}')
    leakage = result['background_leakage']
    lines.append(
        'background leakage over images: on a context scene '
        f'{cell(leakage["cooccurrence"])} (images: '
        f'{leakage["cooccurrence_images"]}), elsewhere '
        f'{cell(leakage["generic"])} (images: {leakage["generic_images"]})')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    split = (args.split if osp.isfile(args.split) else osp.join(
        args.data_root, args.split))
    result = dict(
        cams=args.cams, data_root=args.data_root, split=split,
        threshold=args.threshold,
        **analyze(args.cams, args.data_root, split, args.threshold))
    print(f'{result["num_images"]} images of {split}, threshold '
          f'{args.threshold}')
    print(format_table(result))
    if args.out:
        with atomic_write(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
