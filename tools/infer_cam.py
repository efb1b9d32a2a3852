"""Infer CAMs for a split with the config's test-time settings (scales, flip,
normalisation) and write one file per image.

    python tools/infer_cam.py CONFIG CHECKPOINT --out DIR [--split LIST]
        [--formats npz psa irn] [--cam-dtype float16|float32]
        [--overlay-dir DIR] [--num-overlays N]
        [--cfg-options key=value ...] [--launcher pytorch]

Images whose outputs already exist are skipped, so an interrupted run resumes.
Under ``--launcher pytorch`` the images are split across processes.
"""
import argparse
import copy
import os.path as osp

import cv2
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import get_dist_info, init_dist
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Subset

from wsstool.apis import load_model_weights
from wsstool.fileio import atomic_write, save_cam
from wsstool.registry import DATASETS, MODELS
from wsstool.utils import destroy_process_group, init_cpu_process_group
from wsstool.utils.cli import (add_runtime_args, load_config,
                               parse_runtime_args)
from wsstool.visualization import cam_overlay_grid

# file layout of each output format under --out
FORMAT_PATHS = {'npz': '{id}.npz', 'psa': 'psa/{id}.npy', 'irn': 'irn/{id}.npy'}


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
    add_runtime_args(parser)
    return parse_runtime_args(parser)


def output_paths(out_dir: str, img_id: str, formats: list[str]) -> dict:
    return {
        fmt: osp.join(out_dir, FORMAT_PATHS[fmt].format(id=img_id))
        for fmt in formats
    }


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'wsstool'))
    if args.launcher != 'none' and not init_cpu_process_group(args.launcher):
        init_dist(args.launcher)
    rank, world_size = get_dist_info()
    device = (torch.device('cuda', torch.cuda.current_device())
              if torch.cuda.is_available() else torch.device('cpu'))

    model = MODELS.build(cfg.model)
    load_model_weights(model, args.checkpoint)
    model.to(device).eval()

    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if args.split is not None:
        dataset_cfg.ann_file = (
            osp.abspath(args.split) if osp.isfile(args.split) else args.split)
    dataset = DATASETS.build(dataset_cfg)
    todo = [
        index for index in range(rank, len(dataset), world_size)
        if not all(
            osp.exists(path) for path in output_paths(
                args.out, dataset.get_data_info(index)['img_id'],
                args.formats).values())
    ]
    loader = DataLoader(
        Subset(dataset, todo), batch_size=1, collate_fn=pseudo_collate,
        num_workers=cfg.test_dataloader.get('num_workers', 0))
    class_names = dataset.metainfo['classes'][1:]
    progress = ProgressBar(len(todo)) if rank == 0 else None
    with torch.no_grad():
        for step, batch in enumerate(loader):
            sample = model.test_step(batch)[0]
            keys = sample.pred_cam.class_ids.cpu().numpy()
            cams = sample.pred_cam.cam.float().cpu().numpy()
            img_id = sample.metainfo['img_id']
            for fmt, path in output_paths(args.out, img_id,
                                          args.formats).items():
                save_cam(path, keys, cams, fmt=fmt, dtype=args.cam_dtype)
            if args.overlay_dir and rank == 0 and step < args.num_overlays:
                img = cv2.imread(sample.metainfo['img_path'])
                grid = cam_overlay_grid(img, cams, keys, class_names)
                with atomic_write(
                        osp.join(args.overlay_dir, f'{img_id}.jpg')) as f:
                    f.write(cv2.imencode('.jpg', grid)[1].tobytes())
            if progress is not None:
                progress.update()
    destroy_process_group()
    if rank == 0:
        print(f'\nCAMs of {len(dataset)} images are in {args.out} '
              f'({", ".join(args.formats)})')


if __name__ == '__main__':
    main()
