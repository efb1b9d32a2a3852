"""Refine stage-1 CAMs into pseudo labels with a refinement config (IRN or
AffinityNet), step by step.

    # 1. CAMs -> relation labels (the training labels of the refinement
    #    network; dense CRF in a pool of processes)
    python tools/make_pseudo_labels.py CONFIG --step relation-labels
    # 2. train the refinement network
    python tools/train.py CONFIG
    # 3. random walk -> pseudo labels, fp16 score maps and confidence masks,
    #    then their mIoU on the evaluation split
    python tools/make_pseudo_labels.py CONFIG --step pseudo-labels \\
        --checkpoint work_dirs/NAME/epoch_3.pth
    # 4. optional: new labels and masks from the saved scores with another
    #    background score, without walking again
    python tools/make_pseudo_labels.py CONFIG --step relabel --bg-score 0.3
    # score a folder of pseudo labels again
    python tools/make_pseudo_labels.py CONFIG --step evaluate

The config's ``refine`` dict names the inputs and outputs (folders relative
to the dataset's ``data_root`` unless absolute, like every dataset path):
``cam_dir`` and ``cam_suffix`` (stage-1 CAMs from ``tools/infer_cam.py``),
``out_dir`` (``relation_labels/``, ``pseudo_labels/``, ``scores/``,
``conf_masks/``), ``split`` (images to refine), ``eval_split`` and
``eval_seg_map_path`` (images with ground truth, for the pseudo-label mIoU),
``relation_label`` (REFINERS config) and ``conf_mask`` (REFINERS config).
``--cams`` and ``--out`` override the folders (relative to the working
directory).

Every step skips images whose outputs exist, so an interrupted run resumes,
and writes each file atomically. Under ``--launcher pytorch`` the images are
split across processes.
"""
import argparse
import copy
import json
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info, init_dist
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Subset

from wsstool.apis import load_model_weights
from wsstool.datasets.transforms.loading import read_conf_mask
from wsstool.evaluation import ConfidenceMaskMetric, SegIoUMetric
from wsstool.fileio import atomic_write, load_label_png, save_label_png
from wsstool.models.utils.pseudo_label import scores_to_label
from wsstool.registry import DATASETS, MODELS, REFINERS
from wsstool.utils import destroy_process_group, init_cpu_process_group
from wsstool.utils.cli import (add_runtime_args, load_config,
                               parse_runtime_args)
from wsstool.utils.process_pool import (default_num_workers,
                                        imap_with_progress, process_pool)

STEPS = ('relation-labels', 'pseudo-labels', 'relabel', 'evaluate')
# output folders under refine.out_dir
RELATION_LABELS, PSEUDO_LABELS = 'relation_labels', 'pseudo_labels'
SCORES, CONF_MASKS = 'scores', 'conf_masks'
# refinement pipelines keep the original image size
REFINE_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMFromFile'),
    dict(type='PackWSSSInputs'),
]


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Refine CAMs into pseudo '
                                     'labels')
    parser.add_argument('config', help='refinement config file')
    parser.add_argument('--step', required=True, choices=STEPS)
    parser.add_argument(
        '--checkpoint', help='refinement network (--step pseudo-labels)')
    parser.add_argument('--cams', help='CAM folder (default: refine.cam_dir)')
    parser.add_argument(
        '--out', help='output folder (default: refine.out_dir)')
    parser.add_argument(
        '--split', help='list file of the images to refine (default: '
        'refine.split)')
    parser.add_argument(
        '--bg-score', type=float,
        help='--step relabel: constant background score replacing channel 0 '
        'of the saved scores; the labels go to OUT/bg_<score>/')
    parser.add_argument(
        '--workers', type=int,
        help='--step relation-labels: CRF processes (default: the available '
        'CPU cores, divided among the processes of a distributed run)')
    add_runtime_args(parser)
    args = parse_runtime_args(parser, argv)
    if args.step == 'pseudo-labels' and args.checkpoint is None:
        parser.error('--step pseudo-labels needs --checkpoint')
    if args.step == 'relabel' and args.bg_score is None:
        parser.error('--step relabel needs --bg-score')
    if args.workers is not None and args.workers < 1:
        parser.error(f'--workers must be >= 1, got {args.workers}')
    return args


def refine_settings(cfg: Config, args: argparse.Namespace) -> dict:
    """The config's ``refine`` dict with the command-line overrides and the
    folders resolved (config folders are relative to ``data_root``)."""
    if 'refine' not in cfg:
        raise KeyError(f'{args.config} has no "refine" dict: it is not a '
                       'refinement config (see configs/irn)')
    refine = copy.deepcopy(cfg.refine.to_dict())
    data_root = cfg.test_dataloader.dataset.data_root
    for key, override in (('cam_dir', args.cams), ('out_dir', args.out),
                          ('split', args.split)):
        if override is not None:
            refine[key] = osp.abspath(override)
        elif key not in refine:
            raise KeyError(f'{args.config}: refine.{key} is not set')
        else:
            refine[key] = osp.abspath(osp.join(data_root, refine[key]))
    return refine


def refine_dataset(cfg: Config, refine: dict, with_cams: bool = True):
    """The images of ``refine['split']`` with their CAMs, unresized."""
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.update(
        ann_file=refine['split'],
        data_prefix=dict(
            img_path=dataset_cfg.get('data_prefix', {}).get(
                'img_path', 'JPEGImages'),
            seg_map_path=None),
        pipeline=REFINE_PIPELINE if with_cams else [],
        cam_dir=refine['cam_dir'] if with_cams else None,
        cam_suffix=refine.get('cam_suffix', '.npz'))
    return DATASETS.build(dataset_cfg)


def rank_share(num_items: int) -> range:
    """The indices this process handles."""
    rank, world_size = get_dist_info()
    return range(rank, num_items, world_size)


def pending(dataset, out_paths) -> list[int]:
    """Indices of this process's share whose outputs do not all exist;
    ``out_paths(img_id)`` lists an image's output files."""
    return [
        index for index in rank_share(len(dataset)) if not all(
            osp.exists(path)
            for path in out_paths(dataset.get_data_info(index)['img_id']))
    ]


# per-process state of the relation-label workers (built on first use)
_WORKER = {}


def write_relation_label(task: tuple) -> str:
    """Relation label of one image (run in the CRF pool).

    Args:
        task (tuple): (refiner config, output folder, the image's data info
            with ``img_path``, ``cam_path`` and ``gt_label``).

    Returns:
        str: The image id.
    """
    refiner_cfg, out_dir, info = task
    if _WORKER.get('refiner_cfg') != refiner_cfg:
        init_default_scope('wsstool')
        _WORKER.update(
            refiner_cfg=refiner_cfg,
            load=Compose(REFINE_PIPELINE[:2]),
            refiner=REFINERS.build(copy.deepcopy(refiner_cfg)))
    results = _WORKER['load'](copy.deepcopy(info))
    image = np.ascontiguousarray(results['img'][..., ::-1])  # BGR -> RGB
    label = _WORKER['refiner'](image, results['cam_class_ids'],
                               results['cam'])
    save_label_png(osp.join(out_dir, f'{info["img_id"]}.png'), label)
    return info['img_id']


def make_relation_labels(cfg: Config, refine: dict,
                         args: argparse.Namespace) -> None:
    """Step 1: write ``relation_labels/<id>.png`` from the CAMs."""
    dataset = refine_dataset(cfg, refine)
    out_dir = osp.join(refine['out_dir'], RELATION_LABELS)
    todo = pending(dataset, lambda i: [osp.join(out_dir, f'{i}.png')])
    refiner_cfg = cfg.refine.relation_label.to_dict()
    workers = args.workers or default_num_workers(get_dist_info()[1])
    print_log(
        f'relation labels ({refiner_cfg["type"]}) of {len(todo)} images to '
        f'{out_dir} with {workers} processes',
        logger='current')
    tasks = [(refiner_cfg, out_dir, dataset.get_data_info(index))
             for index in todo]
    with process_pool(workers) as pool:
        for _ in imap_with_progress(pool, write_relation_label, tasks,
                                    'relation labels'):
            pass


def output_files(out_dir: str, img_id: str) -> dict:
    """Paths of the pseudo label, score and confidence-mask files."""
    return dict(
        label=osp.join(out_dir, PSEUDO_LABELS, f'{img_id}.png'),
        score=osp.join(out_dir, SCORES, f'{img_id}.npz'),
        mask=osp.join(out_dir, CONF_MASKS, f'{img_id}.png'))


def save_scores(path: str, class_ids: np.ndarray, score: np.ndarray) -> None:
    """Write (K + 1, H, W) scores (background first) as float16 with the
    (K,) foreground class ids."""
    with atomic_write(path) as f:
        np.savez(f, keys=class_ids.astype(np.int64),
                 score=score.astype(np.float16))


def load_scores(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(class ids (K,), float32 scores (K + 1, H, W)) of a score file."""
    with np.load(path) as data:
        if {'keys', 'score'} - set(data.files):
            raise ValueError(f'{path} holds {data.files}: expected a score '
                             'file with "keys" and "score"')
        keys, score = data['keys'], data['score'].astype(np.float32)
    if score.ndim != 3 or len(score) != len(keys) + 1:
        raise ValueError(f'{path}: score of shape {score.shape} for keys '
                         f'{keys.tolist()}; expected (K + 1, H, W)')
    return keys, score


def write_labels(paths: dict, class_ids: np.ndarray, score: np.ndarray,
                 conf_mask, palette, with_scores: bool) -> None:
    """Write the pseudo label, confidence mask (and scores) of one image."""
    label = scores_to_label(
        torch.from_numpy(score), torch.from_numpy(class_ids)).numpy()
    if with_scores:
        save_scores(paths['score'], class_ids, score)
    mask = conf_mask(score, label)
    save_label_png(paths['mask'], mask.astype(np.uint8) * 255)
    save_label_png(paths['label'], label, palette)


def make_pseudo_labels(cfg: Config, refine: dict,
                       args: argparse.Namespace) -> None:
    """Step 3: walk every image's CAMs with the trained network."""
    dataset = refine_dataset(cfg, refine)
    todo = pending(
        dataset, lambda i: output_files(refine['out_dir'], i).values())
    device = (torch.device('cuda', torch.cuda.current_device())
              if torch.cuda.is_available() else torch.device('cpu'))
    model = MODELS.build(cfg.model)
    load_model_weights(model, args.checkpoint)
    model.to(device).eval()
    conf_mask = REFINERS.build(cfg.refine.conf_mask)
    palette = dataset.metainfo.get('palette')
    loader = DataLoader(
        Subset(dataset, todo), batch_size=1, collate_fn=pseudo_collate,
        num_workers=cfg.test_dataloader.get('num_workers', 0))
    progress = ProgressBar(len(todo)) if get_dist_info()[0] == 0 else None
    with torch.no_grad():
        for batch in loader:
            sample = model.test_step(batch)[0]
            write_labels(
                output_files(refine['out_dir'], sample.metainfo['img_id']),
                sample.pred_scores.class_ids.cpu().numpy(),
                sample.pred_scores.score.float().cpu().numpy(), conf_mask,
                palette, with_scores=True)
            if progress is not None:
                progress.update()


def relabel(cfg: Config, refine: dict, args: argparse.Namespace) -> str:
    """Step 4: labels and masks from the saved scores with a constant
    background score; returns the output folder."""
    dataset = refine_dataset(cfg, refine, with_cams=False)
    out_dir = osp.join(refine['out_dir'], f'bg_{args.bg_score:g}')
    todo = pending(dataset, lambda i: [
        path for key, path in output_files(out_dir, i).items()
        if key != 'score'
    ])
    conf_mask = REFINERS.build(cfg.refine.conf_mask)
    palette = dataset.metainfo.get('palette')
    progress = ProgressBar(len(todo)) if get_dist_info()[0] == 0 else None
    for index in todo:
        img_id = dataset.get_data_info(index)['img_id']
        score_path = output_files(refine['out_dir'], img_id)['score']
        if not osp.isfile(score_path):
            raise FileNotFoundError(
                f'{score_path} does not exist: run --step pseudo-labels '
                'first (it saves the scores)')
        class_ids, score = load_scores(score_path)
        score[0] = args.bg_score
        write_labels(
            output_files(out_dir, img_id), class_ids, score, conf_mask,
            palette, with_scores=False)
        if progress is not None:
            progress.update()
    return out_dir


def eval_dataset(cfg: Config, refine: dict):
    """The images of ``refine['eval_split']`` with their ground truth (built
    by every process: datasets may synchronise processes)."""
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if refine.get('eval_split') is None:
        raise KeyError('refine.eval_split is not set: name the list of '
                       'images with ground truth')
    dataset_cfg.update(
        ann_file=refine['eval_split'],
        data_prefix=dict(
            img_path=dataset_cfg.get('data_prefix', {}).get(
                'img_path', 'JPEGImages'),
            seg_map_path=refine.get('eval_seg_map_path',
                                    'SegmentationClass')),
        cam_dir=None,
        pipeline=[])
    return DATASETS.build(dataset_cfg)


def evaluate(dataset, refine: dict, label_dir: str) -> dict:
    """mIoU, precision and recall of the pseudo labels in ``label_dir`` and
    the precision of their confidence masks on the images of ``dataset``
    (from :func:`eval_dataset`); written to ``label_dir/eval.json``."""
    eval_split = refine['eval_split']
    metrics = [
        SegIoUMetric(nan_policy=refine.get('eval_nan_policy', 'nanmean')),
        ConfidenceMaskMetric(
            nan_policy=refine.get('eval_nan_policy', 'nanmean'))
    ]
    for metric in metrics:
        metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        paths = output_files(label_dir, info['img_id'])
        for key in ('label', 'mask'):
            if not osp.isfile(paths[key]):
                raise FileNotFoundError(
                    f'{paths[key]} does not exist: the evaluation split '
                    f'{eval_split} must be part of the refined split')
        sample = dict(
            img_id=info['img_id'],
            gt_sem_seg=dict(data=torch.from_numpy(
                load_label_png(info['seg_map_path']))[None]),
            pred_sem_seg=dict(data=torch.from_numpy(
                load_label_png(paths['label'])).long()[None]),
            conf_mask=dict(data=torch.from_numpy(
                read_conf_mask(paths['mask']))[None]))
        for metric in metrics:
            metric.process(None, [sample])
    # only the main process evaluates: no gathering across processes
    results = {
        f'{metric.prefix}/{name}': value
        for metric in metrics
        for name, value in metric.compute_metrics(metric.results).items()
    }
    with atomic_write(osp.join(label_dir, 'eval.json'), 'w') as f:
        json.dump(dict(split=eval_split, metrics=results), f, indent=2)
    print_log(
        f'pseudo labels in {label_dir} on {osp.basename(eval_split)}: '
        f'mIoU {results["seg/mIoU"]:.2f}, precision '
        f'{results["seg/mPrecision"]:.2f}, recall {results["seg/mRecall"]:.2f}'
        f'; confident pixels: precision {results["conf/precision"]:.2f}, '
        f'coverage {results["conf/coverage"]:.2f}',
        logger='current')
    return results


def main(argv: Optional[list] = None) -> Optional[dict]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'wsstool'))
    if args.launcher != 'none' and not init_cpu_process_group(args.launcher):
        init_dist(args.launcher)
    refine = refine_settings(cfg, args)
    label_dir = refine['out_dir']
    if args.step == 'relation-labels':
        make_relation_labels(cfg, refine, args)
    elif args.step == 'pseudo-labels':
        make_pseudo_labels(cfg, refine, args)
    elif args.step == 'relabel':
        label_dir = relabel(cfg, refine, args)
    barrier()
    results = None
    if args.step != 'relation-labels':
        dataset = eval_dataset(cfg, refine)
        if get_dist_info()[0] == 0:
            results = evaluate(dataset, refine, label_dir)
    destroy_process_group()
    return results


if __name__ == '__main__':
    main()
