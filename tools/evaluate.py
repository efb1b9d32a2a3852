"""Evaluate a folder of saved CAMs (background-threshold sweep) or of label
PNGs (pseudo labels, predictions) against ground-truth masks.

Examples::

    python tools/evaluate.py --type cam --pred work_dirs/cams \
        --gt data/VOCdevkit/VOC2012/SegmentationClass \
        --list data/VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt \
        --dataset VOCDataset --out cam_eval.json
    python tools/evaluate.py --type label --pred work_dirs/pseudo_labels \
        --gt data/VOCdevkit/VOC2012/SegmentationClass --list train.txt \
        --nan-policy nanmean --conf-masks work_dirs/conf_masks
    python tools/evaluate.py --type cam --pred work_dirs/coco_cams \
        --gt data/coco/mask/val2014 --gt-naming image_id \
        --list data/coco/ImageSets/val2014.txt --dataset COCODataset
"""
import argparse
import json
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence

import torch
from mmengine.utils import ProgressBar

from wsstool.datasets.coco import coco_image_id
from wsstool.datasets.label_io import read_list_file
from wsstool.datasets.transforms.loading import read_conf_mask
from wsstool.evaluation import (NAN_POLICIES, CAMIoUMetric,
                                ConfidenceMaskMetric, SegIoUMetric)
from wsstool.models.utils import CAM_NORMS
from wsstool.fileio import (CAM_FORMATS, atomic_write, find_cam_file,
                            load_cam, load_label_png)
from wsstool.registry import DATASETS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate saved CAMs or label maps against ground truth')
    parser.add_argument(
        '--pred', required=True,
        help='folder of predictions: <id>.npz or <id>.npy CAM files (toolbox,'
        ' PSA-style or IRN-style) for --type cam, <id>.png for --type label')
    parser.add_argument(
        '--gt', required=True, help='folder of ground-truth <id>.png masks')
    parser.add_argument(
        '--gt-naming', choices=('stem', 'image_id'), default='stem',
        help='ground-truth file names: stem (<id>.png, default) or image_id '
        '(COCO <int image id>.png, as written by tools/prepare_coco.py)')
    parser.add_argument(
        '--list', required=True,
        help='list file: bare ids or "image-path mask-path" pairs')
    parser.add_argument('--type', required=True, choices=('cam', 'label'))
    parser.add_argument(
        '--format', choices=('auto', ) + CAM_FORMATS, default='auto',
        help='--type cam: CAM file format; auto (default) detects it from '
        'each file, and reads any dict with integer keys as PSA-style CAMs')
    parser.add_argument(
        '--thresholds', nargs=3, type=float,
        metavar=('START', 'STOP', 'STEP'),
        help='background-threshold sweep for --type cam, STOP included '
        '(default 0 0.6 0.01)')
    parser.add_argument(
        '--num-classes', type=int, default=21,
        help='classes including background (default 21)')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument(
        '--nan-policy', choices=NAN_POLICIES, default='plain',
        help='classes absent from ground truth and prediction: plain (count '
        'as 0, mean over all), nanmean (skip), present_in_gt (mean over '
        'classes with ground truth)')
    parser.add_argument(
        '--pred-void-as', type=int,
        help='--type label: class id for predicted pixels equal to '
        '--ignore-index (default: such pixels are an error)')
    parser.add_argument(
        '--conf-masks',
        help='--type label: folder of <id>.png confidence masks of the '
        'predictions; also reports the precision and coverage of the '
        'confident pixels')
    parser.add_argument(
        '--cam-norm', choices=CAM_NORMS, default='max',
        help='how the CAMs were normalised (recorded in the result)')
    parser.add_argument(
        '--dataset',
        help='registered dataset (e.g. VOCDataset) whose class names label '
        'the table and set the number of classes (overrides --num-classes)')
    parser.add_argument(
        '--workers', type=int, default=4, help='threads reading files')
    parser.add_argument('--out', help='JSON file for the metrics')
    return parser.parse_args(argv)


def find_png(folder: str, img_id: str, what: str) -> str:
    """Path of ``<folder>/<img_id>.png``, which must exist."""
    path = osp.join(folder, f'{img_id}.png')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{what} of image {img_id} not found: looked for {path}')
    return path


def sample_loader(args: argparse.Namespace) -> Callable[[str], dict]:
    """Function reading the evaluation sample (a metric input dict) of an
    image id."""

    def load(img_id: str) -> dict:
        gt_name = (str(coco_image_id(img_id))
                   if args.gt_naming == 'image_id' else img_id)
        gt = load_label_png(find_png(args.gt, gt_name, 'ground truth'))
        sample = dict(
            img_id=img_id, gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))
        if args.type == 'cam':
            keys, cam = load_cam(
                find_cam_file(args.pred, img_id), fmt=args.format)
            sample['pred_cam'] = dict(
                cam=torch.from_numpy(cam), class_ids=torch.from_numpy(keys))
        else:
            pred = load_label_png(find_png(args.pred, img_id, 'prediction'))
            sample['pred_sem_seg'] = dict(data=torch.from_numpy(pred)[None])
            if args.conf_masks:
                mask = read_conf_mask(
                    find_png(args.conf_masks, img_id, 'confidence mask'))
                sample['conf_mask'] = dict(data=torch.from_numpy(mask)[None])
        return sample

    return load


def build_metrics(args: argparse.Namespace) -> list:
    """The metric of ``--type`` (and the confidence-mask metric with
    ``--conf-masks``); with ``--dataset`` the classes name the tables and set
    the number of classes."""
    common = dict(
        num_classes=None if args.dataset else args.num_classes,
        ignore_index=args.ignore_index,
        nan_policy=args.nan_policy)
    if args.type == 'cam':
        thresholds = None if args.thresholds is None else dict(
            zip(('start', 'stop', 'step'), args.thresholds))
        metrics = [
            CAMIoUMetric(
                thresholds=thresholds, cam_norm=args.cam_norm, **common)
        ]
    else:
        metrics = [SegIoUMetric(pred_void_as=args.pred_void_as, **common)]
        if args.conf_masks:
            metrics.append(ConfidenceMaskMetric(**common))
    if args.dataset:
        for metric in metrics:
            metric.dataset_meta = dict(
                classes=DATASETS.get(args.dataset).METAINFO['classes'])
    return metrics


def evaluate(args: argparse.Namespace) -> dict:
    """Feed every listed image to the metric and return its result."""
    ids = read_list_file(args.list)
    metrics = build_metrics(args)
    load = sample_loader(args)
    progress = ProgressBar(len(ids))
    workers = max(args.workers, 1)
    # read ahead a few files per thread, not the whole split
    chunk = 4 * workers
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(ids), chunk):
            for sample in pool.map(load, ids[start:start + chunk]):
                for metric in metrics:
                    metric.process(None, [sample])
                progress.update()
    print()
    results = {}
    for metric in metrics:
        results.update(metric.evaluate(len(ids)))
        if isinstance(metric, CAMIoUMetric):
            results[f'{metric.prefix}/mIoU_curve'] = metric.miou_curve
    return results


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    metrics = evaluate(args)
    for name, value in metrics.items():
        print(f'{name}: {value}')
    if args.out:
        report = dict(
            type=args.type, pred=args.pred, gt=args.gt, list=args.list,
            metrics=metrics)
        with atomic_write(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
