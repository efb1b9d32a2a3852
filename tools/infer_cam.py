"""Infer CAMs for a split with the config's test-time settings (scales, flip,
normalisation) and write one file per image.

    python tools/infer_cam.py CONFIG CHECKPOINT --out DIR [--split LIST]
        [--formats npz psa irn] [--cam-dtype float16|float32]
        [--overlay-dir DIR] [--num-overlays N]
        [--crf-alphas ALPHA [ALPHA ...]] [--crf-workers N]
        [--cfg-options key=value ...] [--launcher pytorch]

``--crf-alphas`` also writes dense-CRF probabilities of the CAMs (PSA's la/ha
maps), computed in a pool of processes while the model keeps inferring.
Images whose outputs already exist are skipped, so an interrupted run resumes.
No ground truth is loaded, so any split works (train_aug for refinement).
Under ``--launcher pytorch`` the images are split across processes.
"""
import argparse
import copy
import os.path as osp
from collections import deque
from contextlib import nullcontext
from multiprocessing.pool import Pool
from typing import Optional

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.dist import get_dist_info, init_dist
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Subset

from wsstool.apis import load_model_weights
from wsstool.fileio import atomic_write, save_cam, save_image
from wsstool.models.refiners import crf_cam_with_alpha
from wsstool.registry import DATASETS, MODELS
from wsstool.utils import destroy_process_group, init_cpu_process_group
from wsstool.utils.cli import (add_runtime_args, load_config,
                               parse_runtime_args)
from wsstool.utils.process_pool import default_num_workers, process_pool
from wsstool.visualization import cam_overlay_grid

# file layout of each output format under --out
FORMAT_PATHS = {'npz': '{id}.npz', 'psa': 'psa/{id}.npy', 'irn': 'irn/{id}.npy'}
# file layout of the CRF probabilities of each alpha, in the formats that
# hold them: npz ``keys`` (K,) + ``prob`` (K + 1, H, W), background first;
# psa: PSA's la/ha dict {0: background, k + 1: class k}
CRF_FORMAT_PATHS = {
    'npz': 'crf_{alpha}/{id}.npz',
    'psa': 'crf_{alpha}/psa/{id}.npy'
}
# CRF tasks queued per worker before inference waits for the CRF
CRF_QUEUE_PER_WORKER = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Infer CAMs')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument(
        '--split', help='list file to infer: a path (absolute or from the '
        'working directory) or relative to the dataset\'s data_root '
        '(default: the ann_file of test_dataloader.dataset)')
    parser.add_argument(
        '--formats', nargs='+', choices=sorted(FORMAT_PATHS), default=['npz'],
        help='npz: wsstool (keys + fp16 cam); psa / irn: reference dicts')
    parser.add_argument(
        '--cam-dtype', choices=('float16', 'float32'), default='float16',
        help='precision of the CAMs in npz files')
    parser.add_argument('--overlay-dir', help='write CAM overlay images here')
    parser.add_argument('--num-overlays', type=int, default=8)
    parser.add_argument(
        '--crf-alphas', type=float, nargs='+', default=[], metavar='ALPHA',
        help='also write the dense-CRF (psa_prob preset) probabilities of '
        'the CAMs with a (1 - max CAM)^ALPHA background under crf_<ALPHA>/, '
        'for the npz and psa formats (PSA: 4 32)')
    parser.add_argument(
        '--crf-workers', type=int,
        help='CRF processes (default: the available CPU cores, divided '
        'among the processes of a distributed run)')
    add_runtime_args(parser)
    args = parse_runtime_args(parser)
    if any(alpha <= 0 for alpha in args.crf_alphas):
        parser.error(f'--crf-alphas must be > 0, got {args.crf_alphas}')
    if args.crf_alphas and not set(args.formats) & set(CRF_FORMAT_PATHS):
        parser.error('--crf-alphas writes the formats '
                     f'{sorted(CRF_FORMAT_PATHS)}; --formats {args.formats} '
                     'has neither')
    if args.crf_workers is not None and args.crf_workers < 1:
        parser.error(f'--crf-workers must be >= 1, got {args.crf_workers}')
    return args


def output_paths(out_dir: str, img_id: str, formats: list[str]) -> dict:
    return {
        fmt: osp.join(out_dir, FORMAT_PATHS[fmt].format(id=img_id))
        for fmt in formats
    }


def crf_output_paths(out_dir: str, img_id: str, formats: list[str],
                     alphas: list[float]) -> dict:
    """{alpha: {format: path}} of the CRF outputs of one image."""
    return {
        alpha: {
            fmt: osp.join(
                out_dir, CRF_FORMAT_PATHS[fmt].format(
                    alpha=f'{alpha:g}', id=img_id))
            for fmt in formats if fmt in CRF_FORMAT_PATHS
        }
        for alpha in alphas
    }


def all_output_files(args: argparse.Namespace, img_id: str) -> list[str]:
    """Every file the tool writes for one image (CAMs and CRF outputs)."""
    crf_paths = crf_output_paths(args.out, img_id, args.formats,
                                 args.crf_alphas)
    return [
        *output_paths(args.out, img_id, args.formats).values(),
        *(path for paths in crf_paths.values() for path in paths.values())
    ]


def save_crf_prob(path: str, keys: np.ndarray, prob: np.ndarray, fmt: str,
                  dtype: str) -> None:
    """Write CRF probabilities (K + 1, H, W) of classes ``keys`` (K,)
    atomically; ``dtype`` applies to the npz format (psa is float32)."""
    with atomic_write(path) as f:
        if fmt == 'npz':
            np.savez(f, keys=keys, prob=prob.astype(dtype))
        else:
            scores = {0: prob[0]}
            scores.update({int(k) + 1: p for k, p in zip(keys, prob[1:])})
            np.save(f, scores, allow_pickle=True)


def write_crf(img_path: str, keys: np.ndarray, cams: np.ndarray, paths: dict,
              dtype: str) -> None:
    """Run the CRF of each alpha on one image and write its outputs (run in
    the CRF pool).

    Args:
        img_path (str): The image (read as RGB uint8).
        keys (np.ndarray): (K,) foreground class indices.
        cams (np.ndarray): (K, H, W) max-normalised CAMs.
        paths (dict): {alpha: {format: path}} from :func:`crf_output_paths`.
        dtype (str): Precision of the npz probabilities.
    """
    image = mmcv.imread(img_path, 'color', channel_order='rgb')
    for alpha, format_paths in paths.items():
        prob = crf_cam_with_alpha(image, cams, alpha)
        for fmt, path in format_paths.items():
            save_crf_prob(path, keys, prob, fmt, dtype)


def without_annotations(dataset_cfg: dict) -> dict:
    """A copy of a dataset config that loads no label maps: CAM inference
    needs the images only, so any split works (e.g. train_aug, whose images
    have no ground truth, for refinement)."""
    dataset_cfg = copy.deepcopy(dataset_cfg)
    dataset_cfg.data_prefix = dict(
        dataset_cfg.get('data_prefix', {}), seg_map_path=None)
    dataset_cfg.pipeline = [
        transform for transform in dataset_cfg.pipeline
        if transform['type'] != 'LoadWSSSAnnotations'
    ]
    return dataset_cfg


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'wsstool'))
    if args.launcher != 'none' and not init_cpu_process_group(args.launcher):
        init_dist(args.launcher)
    crf_workers = args.crf_workers or default_num_workers(get_dist_info()[1])
    with (process_pool(crf_workers)
          if args.crf_alphas else nullcontext()) as pool:
        infer(args, cfg, pool, crf_workers)
    destroy_process_group()


def infer(args: argparse.Namespace, cfg: Config, pool: Optional[Pool],
          crf_workers: int) -> None:
    """Write the outputs of this process's share of the images; CRF tasks go
    to ``pool`` (None without ``--crf-alphas``), at most
    ``CRF_QUEUE_PER_WORKER * crf_workers`` at a time."""
    rank, world_size = get_dist_info()
    device = (torch.device('cuda', torch.cuda.current_device())
              if torch.cuda.is_available() else torch.device('cpu'))
    model = MODELS.build(cfg.model)
    load_model_weights(model, args.checkpoint)
    model.to(device).eval()

    dataset_cfg = without_annotations(cfg.test_dataloader.dataset)
    if args.split is not None:
        dataset_cfg.ann_file = (
            osp.abspath(args.split) if osp.isfile(args.split) else args.split)
    dataset = DATASETS.build(dataset_cfg)
    todo = [
        index for index in range(rank, len(dataset), world_size)
        if not all(
            osp.exists(path) for path in all_output_files(
                args, dataset.get_data_info(index)['img_id']))
    ]
    loader = DataLoader(
        Subset(dataset, todo), batch_size=1, collate_fn=pseudo_collate,
        num_workers=cfg.test_dataloader.get('num_workers', 0))
    class_names = dataset.metainfo['classes'][1:]
    progress = ProgressBar(len(todo)) if rank == 0 else None
    crf_tasks = deque()
    with torch.no_grad():
        for step, batch in enumerate(loader):
            sample = model.test_step(batch)[0]
            keys = sample.pred_cam.class_ids.cpu().numpy()
            cams = sample.pred_cam.cam.float().cpu().numpy()
            img_id = sample.metainfo['img_id']
            for fmt, path in output_paths(args.out, img_id,
                                          args.formats).items():
                save_cam(path, keys, cams, fmt=fmt, dtype=args.cam_dtype)
            if pool is not None:
                crf_tasks.append(
                    pool.apply_async(write_crf, (
                        sample.metainfo['img_path'], keys, cams,
                        crf_output_paths(args.out, img_id, args.formats,
                                         args.crf_alphas), args.cam_dtype)))
                while len(crf_tasks) > CRF_QUEUE_PER_WORKER * crf_workers:
                    crf_tasks.popleft().get()
            if args.overlay_dir and rank == 0 and step < args.num_overlays:
                img = cv2.imread(sample.metainfo['img_path'])
                grid = cam_overlay_grid(img, cams, keys, class_names)
                save_image(osp.join(args.overlay_dir, f'{img_id}.jpg'), grid)
            if progress is not None:
                progress.update()
    for task in crf_tasks:
        task.get()
    if rank == 0:
        crf = (f' and CRF probabilities for alpha {args.crf_alphas}'
               if args.crf_alphas else '')
        print(f'\nCAMs{crf} of {len(dataset)} images are in {args.out} '
              f'({", ".join(args.formats)})')


if __name__ == '__main__':
    main()
