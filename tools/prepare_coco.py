"""Build WSSS label maps, image-level labels and list files for COCO 2014.

    python tools/prepare_coco.py COCO_ROOT [--splits train2014 val2014]
        [--ann-dir DIR] [--nproc N]

From ``annotations/instances_<split>.json`` (no pycocotools needed), written
into COCO_ROOT per split:

* ``mask/<split>/<int image id>.png``: uint8 label map, 0 = background,
  1..80 = the categories in increasing COCO id order; the non-crowd
  annotations are painted in file order (later ones overwrite earlier ones);
  crowd regions stay 0;
* ``cls_labels_<split>.npy``: dict image file stem -> float32 (80,)
  multi-hot of the categories of all the image's annotations, crowd ones
  included (as torchvision ``CocoDetection`` targets), so a category may be
  labelled although the label map does not show it;
* ``ImageSets/<split>.txt``: image file stems sorted by image id.

Polygons are filled by pixel-centre sampling, as pycocotools does (up to its
1/5-pixel quantisation). Every file is written atomically and existing
outputs are kept, so an interrupted run can be restarted. See
docs/data_preparation.md.
"""
import argparse
import json
import os.path as osp
from collections import defaultdict
from functools import partial

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from wsstool.datasets.coco import COCO_CATEGORY_TO_LABEL, COCO_CLASSES
from wsstool.datasets.label_io import save_cls_labels, write_list_file
from wsstool.fileio import save_label_png


def decode_rle_string(counts: str) -> list[int]:
    """Run lengths of a compressed COCO RLE string.

    Each run length is stored as characters of 5 data bits (LSB first) plus
    a continuation bit (0x20), offset by 48; the last character's bit 0x10
    is the sign. From the fourth run on, the value is the difference to the
    run two places earlier (the previous run of the same pixel value).
    """
    runs, pos = [], 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            char = ord(counts[pos]) - 48
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            pos += 1
            shift += 5
            if not more and char & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_to_mask(runs: list[int], h: int, w: int) -> np.ndarray:
    """bool (h, w) mask of column-major run lengths (first run = 0s)."""
    runs = np.asarray(runs, dtype=np.int64)
    if runs.sum() != h * w or (runs < 0).any():
        raise ValueError(f'RLE run lengths sum to {runs.sum()}, expected '
                         f'{h}x{w} = {h * w}')
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(w, h).T


def polygon_to_mask(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """bool (h, w) mask of the pixels whose centre (x + 0.5, y + 0.5) lies
    inside the polygon ``xy`` ((N, 2) vertices, even-odd rule)."""
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # an edge crosses the centre line of row r when min(y) <= r + .5 < max(y)
    first = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), 0, h).astype(int)
    stop = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), 0, h).astype(int)
    counts = np.maximum(stop - first, 0)
    edge = np.repeat(np.arange(len(xy)), counts)
    rows = np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(
        np.cumsum(counts) - counts, counts)
    t = (rows + 0.5 - y0[edge]) / (y1[edge] - y0[edge])
    xs = x0[edge] + t * (x1[edge] - x0[edge])
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    # consecutive crossings of a row bound the inside spans [x_a, x_b)
    starts = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(int)
    ends = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(int)
    diff = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(diff, (rows[0::2], starts), 1)
    np.add.at(diff, (rows[0::2], ends), -1)
    return np.cumsum(diff, axis=1)[:, :w] > 0


def segmentation_to_mask(segmentation, h: int, w: int) -> np.ndarray:
    """bool (h, w) mask of a COCO ``segmentation``: a list of polygons
    ``[x1, y1, x2, y2, ...]``, or an RLE dict with list or string counts."""
    if isinstance(segmentation, list):
        mask = np.zeros((h, w), dtype=bool)
        for flat in segmentation:
            xy = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
            if len(xy) >= 3:
                mask |= polygon_to_mask(xy, h, w)
        return mask
    if list(segmentation['size']) != [h, w]:
        raise ValueError(f'RLE size {segmentation["size"]} differs from the '
                         f'image size {[h, w]}')
    counts = segmentation['counts']
    runs = decode_rle_string(counts) if isinstance(counts, str) else counts
    return rle_to_mask(runs, h, w)


def category_label(ann: dict) -> int:
    """Class index 1..80 of an annotation's ``category_id``."""
    if ann['category_id'] not in COCO_CATEGORY_TO_LABEL:
        raise ValueError(f'annotation {ann.get("id")} has category_id '
                         f'{ann["category_id"]}, not a COCO 2014 category')
    return COCO_CATEGORY_TO_LABEL[ann['category_id']]


def coco_label_map(anns: list[dict], h: int, w: int) -> np.ndarray:
    """uint8 (h, w) label map of one image's annotations (in order)."""
    label_map = np.zeros((h, w), dtype=np.uint8)
    for ann in anns:
        if ann.get('iscrowd', 0):
            continue
        label = category_label(ann)
        label_map[segmentation_to_mask(ann['segmentation'], h, w)] = label
    return label_map


def coco_image_label(anns: list[dict]) -> np.ndarray:
    """float32 (80,) multi-hot of the categories of all ``anns``, crowd
    annotations included."""
    label = np.zeros(len(COCO_CLASSES) - 1, dtype=np.float32)
    for ann in anns:
        label[category_label(ann) - 1] = 1
    return label


def convert_image(task: tuple[dict, list], mask_dir: str) -> None:
    """Write the label map of one image unless it exists."""
    image, anns = task
    path = osp.join(mask_dir, f'{image["id"]}.png')
    if not osp.exists(path):
        save_label_png(
            path, coco_label_map(anns, image['height'], image['width']))


def prepare_split(coco_root: str, ann_file: str, split: str,
                  nproc: int) -> None:
    """Write the label maps, labels and list file of one split."""
    with open(ann_file, encoding='utf-8') as f:
        content = json.load(f)
    anns_of = defaultdict(list)
    for ann in content['annotations']:
        anns_of[ann['image_id']].append(ann)
    images = sorted(content['images'], key=lambda image: image['id'])
    stems = [osp.splitext(image['file_name'])[0] for image in images]

    convert = partial(
        convert_image, mask_dir=osp.join(coco_root, 'mask', split))
    tasks = [(image, anns_of[image['id']]) for image in images]
    if nproc > 1:
        track_parallel_progress(convert, tasks, nproc)
    else:
        track_progress(convert, tasks)
    label_path = osp.join(coco_root, f'cls_labels_{split}.npy')
    if not osp.exists(label_path):
        save_cls_labels(label_path, {
            stem: coco_image_label(anns)
            for stem, (_, anns) in zip(stems, tasks)
        })
    list_path = osp.join(coco_root, 'ImageSets', f'{split}.txt')
    if not osp.exists(list_path):
        write_list_file(list_path, stems)
    print(f'{split}: {len(images)} images -> mask/{split}, {label_path}, '
          f'{list_path}')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Build COCO 2014 label maps, image-level labels and '
        'list files for WSSS')
    parser.add_argument('coco_root', help='folder with train2014/, val2014/')
    parser.add_argument(
        '--splits', nargs='+', default=['train2014', 'val2014'])
    parser.add_argument(
        '--ann-dir',
        help='folder of instances_<split>.json (default: '
        'COCO_ROOT/annotations)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    ann_dir = args.ann_dir or osp.join(args.coco_root, 'annotations')
    ann_files = {
        split: osp.join(ann_dir, f'instances_{split}.json')
        for split in args.splits
    }
    missing = [path for path in ann_files.values() if not osp.isfile(path)]
    if missing:
        raise FileNotFoundError(f'missing COCO annotation files {missing}; '
                                'see docs/data_preparation.md')
    for split, ann_file in ann_files.items():
        prepare_split(args.coco_root, ann_file, split, args.nproc)


if __name__ == '__main__':
    main()
