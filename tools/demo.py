"""The main job on the built-in SynthVOC, on a CPU: ``make demo``.

Generates SynthVOC if needed, trains the CAM baseline, infers multi-scale +
flip CAMs on val, evaluates them with the background-threshold sweep,
prints the best point of the curve and writes CAM overlay images.
Rerunning resumes: finished steps are reused.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthvoc]
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

from mmengine.config import Config

from wsstool.datasets.synthvoc import SynthVOCParams, prepare_synthvoc

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'cam',
                  'cam_r18_1xb16-12e_synthvoc-128x128.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthvoc')
    return parser.parse_args()


def run(step: str, args: list[str]) -> None:
    """Run one wsstool tool as a user would, stopping on failure."""
    print(f'\n=== {step}\n$ python {" ".join(args)}', flush=True)
    start = time.time()
    subprocess.run([sys.executable, *args], check=True)
    print(f'=== {step}: {time.time() - start:.0f} s', flush=True)


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(CONFIG)
    params = SynthVOCParams.from_cfg(
        cfg.train_dataloader.dataset.generator_cfg)
    print(f'SynthVOC in {args.data_root} (generated if absent)')
    prepare_synthvoc(args.data_root, params, True)

    roots = [
        f'{loader}.dataset.data_root={args.data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]
    cam_dir = osp.join(args.work_dir, 'cam')
    run('train the CAM baseline', [
        'tools/train.py', CONFIG, '--work-dir', cam_dir, '--resume',
        '--cfg-options', *roots
    ])
    max_epochs = cfg.train_cfg.max_epochs
    checkpoint = osp.join(cam_dir, f'epoch_{max_epochs}.pth')
    val_list = osp.join(args.data_root, 'ImageSets', 'Segmentation',
                        'val.txt')
    cams = osp.join(args.work_dir, 'cams_val')
    overlays = osp.join(args.work_dir, 'cam_overlays')
    run('infer CAMs on val (multi-scale + flip)', [
        'tools/infer_cam.py', CONFIG, checkpoint, '--out', cams, '--split',
        val_list, '--overlay-dir', overlays, '--num-overlays',
        '6', '--cfg-options', *roots
    ])
    result_file = osp.join(args.work_dir, 'cam_val_sweep.json')
    run('evaluate CAMs (background-threshold sweep)', [
        'tools/evaluate.py', '--pred', cams, '--gt',
        osp.join(args.data_root, 'SegmentationClass'), '--list', val_list,
        '--type', 'cam', '--dataset', 'SynthVOCDataset', '--out', result_file
    ])
    with open(result_file, encoding='utf-8') as f:
        metrics = json.load(f)['metrics']
    print(f'\nCAM mIoU on SynthVOC val: {metrics["cam/mIoU"]:.2f} at '
          f'background threshold {metrics["cam/best_threshold"]:.2f}')
    print(f'CAM overlays: {overlays}')


if __name__ == '__main__':
    main()
