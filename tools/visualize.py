"""Draw result grids as PNGs: one row per image with the image, its ground
truth, one CAM heat map per class, the pseudo label, the confidence mask and
the prediction, for chosen images or for those of lowest mIoU.

Examples::

    # the 10 images of a pipeline's test split whose predictions score lowest
    python tools/visualize.py \\
        --pipeline work_dirs/pipelines/ktse_irn_beco_synthvoc \\
        --worst 10 --out work_dirs/vis/worst
    # chosen images from explicit folders
    python tools/visualize.py --data-root data/synthvoc \\
        --dataset SynthVOCDataset --cams work_dirs/cams \\
        --pseudo-labels work_dirs/irn/pseudo_labels \\
        --conf-masks work_dirs/irn/conf_masks \\
        --ids 2026_000001 2026_000007 --out work_dirs/vis/chosen

A column whose folder is not given (by its flag or by the pipeline's
``results.json``) is left out; a file missing from a given folder shows as a
grey "missing" panel.
"""
import argparse
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from wsstool.apis.pipeline import RESULTS_FILE, load_results
from wsstool.datasets.label_io import label_colormap, read_list_file
from wsstool.datasets.transforms.loading import read_conf_mask
from wsstool.fileio import (find_cam_file, load_cam, load_label_png,
                            save_image)
from wsstool.registry import DATASETS
from wsstool.visualization.result_grid import (blank_panel, cam_panels,
                                               colorize_label, compose_row,
                                               fit_panel, mask_panel,
                                               missing_panel, per_image_miou,
                                               stack_rows, worst_images)

# argument -> key of the "artifacts" of a pipeline's results.json
ARG_TO_ARTIFACT = dict(
    data_root='data_root',
    dataset='dataset',
    classes='classes',
    cams='cams',
    pseudo_labels='pseudo_labels',
    conf_masks='conf_masks',
    preds='predictions')
SOURCES = ('cams', 'pseudo_labels', 'conf_masks', 'preds')
IGNORE_INDEX = 255
# what --rank-by can rank: panel title and results.json key of the split
RANKED = dict(
    preds=('prediction', 'prediction_split'),
    pseudo_labels=('pseudo label', 'pseudo_label_split'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw image | ground truth | CAMs | pseudo label | '
        'confidence mask | prediction grids as PNGs')
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument('--ids', nargs='+', metavar='ID', help='image ids')
    choice.add_argument(
        '--worst', type=int, metavar='N',
        help='the N images of --split with ground truth whose --rank-by '
        'labels have the lowest mIoU')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--pipeline', metavar='WORK_DIR',
        help='pipeline work dir: the folders, data root and dataset default '
        f'to the "artifacts" of WORK_DIR/{RESULTS_FILE}')
    parser.add_argument(
        '--data-root',
        help='dataset folder in VOC layout (JPEGImages, SegmentationClass)')
    parser.add_argument(
        '--dataset',
        help='registered dataset (e.g. SynthVOCDataset, VOCDataset) whose '
        'palette colours the labels and whose class names title the CAMs '
        '(with --pipeline: the class names of the pipeline\'s dataset)')
    parser.add_argument(
        '--gt-dir', default='SegmentationClass',
        help='ground-truth folder, relative to --data-root unless absolute '
        '(default SegmentationClass)')
    parser.add_argument('--cams', help='folder of <id>.npz (or .npy) CAMs')
    parser.add_argument(
        '--pseudo-labels', help='folder of <id>.png pseudo labels')
    parser.add_argument(
        '--conf-masks', help='folder of <id>.png confidence masks')
    parser.add_argument('--preds', help='folder of <id>.png predictions')
    parser.add_argument(
        '--rank-by', choices=('preds', 'pseudo-labels'),
        help='labels whose mIoU --worst ranks and the row labels show '
        '(default: preds when there are predictions, else pseudo-labels)')
    parser.add_argument(
        '--split',
        help='--worst: list file, relative to --data-root unless absolute '
        '(default with --pipeline: the split of the --rank-by labels)')
    parser.add_argument(
        '--max-cams', type=int, default=4,
        help='most CAM columns per image (default 4)')
    parser.add_argument(
        '--panel-size', type=int, default=160,
        help='side of the square each panel is scaled into (default 160)')
    parser.add_argument(
        '--rows-per-page', type=int, default=25,
        help='rows of grid.png; more images give grid_1.png, grid_2.png, '
        '... (default 25)')
    # class names, background first: only from --pipeline
    parser.set_defaults(classes=None)
    args = parser.parse_args(argv)
    for name in ('worst', 'max_cams', 'panel_size', 'rows_per_page'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive, got '
                         f'{value}')
    return args


def read_artifacts(work_dir: str) -> dict:
    """The "artifacts" of a pipeline's ``results.json``."""
    results = load_results(work_dir)
    if not isinstance(results, dict) or not isinstance(
            results.get('artifacts'), dict):
        raise KeyError(f'{osp.join(work_dir, RESULTS_FILE)} has no '
                       '"artifacts" dict: expected the results.json of '
                       'tools/run_pipeline.py')
    return results['artifacts']


def resolve_inputs(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the inputs not given on the command line from ``--pipeline``,
    check that the required ones are set and return ``args``."""
    artifacts = read_artifacts(args.pipeline) if args.pipeline else {}
    for name, key in ARG_TO_ARTIFACT.items():
        if getattr(args, name) is None:
            setattr(args, name, artifacts.get(key))
    args.rank_by = (args.rank_by.replace('-', '_') if args.rank_by else
                    'preds' if args.preds else 'pseudo_labels')
    if args.split is None:
        args.split = artifacts.get(RANKED[args.rank_by][1])
    where = f' or "artifacts" of {RESULTS_FILE}' if args.pipeline else ''
    for name in ('data_root', 'dataset'):
        if getattr(args, name) is None:
            raise ValueError(f'no {name}: give --{name.replace("_", "-")}'
                             f'{where}')
    if not any(getattr(args, name) for name in SOURCES):
        raise ValueError('nothing to show: give at least one of --cams, '
                         f'--pseudo-labels, --conf-masks, --preds{where}')
    if args.worst and not getattr(args, args.rank_by):
        raise ValueError(f'--worst ranks the {RANKED[args.rank_by][0]}s: '
                         f'give --{args.rank_by.replace("_", "-")}{where}')
    if args.worst and not args.split:
        raise ValueError(f'--worst needs --split{where}')
    return args


def under_root(data_root: str, path: str) -> str:
    return path if osp.isabs(path) else osp.join(data_root, path)


def find_png(folder: Optional[str], img_id: str) -> Optional[str]:
    """``<folder>/<img_id>.png``; None when it does not exist (or no
    folder)."""
    if folder is None:
        return None
    path = osp.join(folder, f'{img_id}.png')
    return path if osp.isfile(path) else None


def read_label(path: str, shape: tuple) -> np.ndarray:
    """A label PNG, checked to be of ``shape`` (H, W)."""
    label = load_label_png(path)
    if label.shape != shape:
        raise ValueError(f'{path} is of size {label.shape}; expected the '
                         f'image size {shape}')
    return label


def label_miou(label: np.ndarray, path: str, gt: np.ndarray, gt_path: str,
               num_classes: int) -> float:
    """Per-image mIoU of the label map read from ``path`` against ``gt``
    (read from ``gt_path``); errors name both files."""
    try:
        return per_image_miou(label, gt, num_classes, IGNORE_INDEX)
    except ValueError as error:
        raise ValueError(f'{path} against {gt_path}: {error}') from error


def rank_worst(args: argparse.Namespace, num_classes: int) -> list:
    """Ids of the ``--worst`` images of ``--split`` of lowest mIoU, among
    those with ground truth."""
    folder = getattr(args, args.rank_by)
    split = under_root(args.data_root, args.split)
    gt_dir = under_root(args.data_root, args.gt_dir)
    with_gt = [(i, p) for i in read_list_file(split)
               if (p := find_png(gt_dir, i)) is not None]
    if not with_gt:
        raise FileNotFoundError(f'no image of {split} has ground truth in '
                                f'{gt_dir}: --worst has nothing to rank')
    missing = [i for i, _ in with_gt if find_png(folder, i) is None]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(with_gt)} images of {split} with '
            f'ground truth have no <id>.png in {folder}, e.g. {missing[:3]}')
    scores = {}
    for img_id, gt_path in with_gt:
        gt = load_label_png(gt_path)
        path = find_png(folder, img_id)
        scores[img_id] = label_miou(
            read_label(path, gt.shape), path, gt, gt_path, num_classes)
    return worst_images(scores, args.worst)


@dataclass
class ImageRow:
    """The fitted panels of one image: those left of the CAMs (image, ground
    truth), the CAMs, and those right of them."""
    label: str
    before_cams: list = field(default_factory=list)
    cams: list = field(default_factory=list)
    after_cams: list = field(default_factory=list)


class RowLoader:
    """Read and draw the panels of an image id from the resolved inputs."""

    def __init__(self, args: argparse.Namespace, classes: Sequence[str],
                 palette: Sequence[Sequence[int]]) -> None:
        self.args = args
        self.classes = classes
        self.palette = palette
        self.img_dir = osp.join(args.data_root, 'JPEGImages')
        self.gt_dir = under_root(args.data_root, args.gt_dir)
        self.size = args.panel_size

    def __call__(self, img_id: str) -> ImageRow:
        args = self.args
        img_path = osp.join(self.img_dir, f'{img_id}.jpg')
        image = cv2.imread(img_path)
        if image is None:
            raise FileNotFoundError(
                f'image {img_id}: {img_path} does not exist or is not an '
                'image')
        paths = dict(
            gt=find_png(self.gt_dir, img_id),
            cams=(find_cam_file(args.cams, img_id, required=False)
                  if args.cams else None),
            pseudo_labels=find_png(args.pseudo_labels, img_id),
            conf_masks=find_png(args.conf_masks, img_id),
            preds=find_png(args.preds, img_id))
        if not any(paths.values()):
            folders = [getattr(args, n) for n in SOURCES if getattr(args, n)]
            raise FileNotFoundError(
                f'image {img_id} has no file in any of {folders} and no '
                f'ground truth in {self.gt_dir}')
        shape = image.shape[:2]
        labels = {
            name: read_label(paths[name], shape)
            for name in ('gt', 'pseudo_labels', 'preds') if paths[name]
        }
        miou = {
            name: label_miou(labels[name], paths[name], labels['gt'],
                             paths['gt'], len(self.classes))
            for name in ('pseudo_labels', 'preds')
            if name in labels and 'gt' in labels
        }
        label = img_id
        if getattr(args, args.rank_by):
            label += '   ' + with_miou(f'{RANKED[args.rank_by][0]} mIoU',
                                       miou.get(args.rank_by), absent='n/a')
        row = ImageRow(label=label)
        row.before_cams = [(self.fit(image), 'image'),
                           self.label_panel(labels, paths, 'gt',
                                            'ground truth')]
        if args.cams:
            row.cams = self.cam_panels(paths['cams'], image)
        if args.pseudo_labels:
            row.after_cams.append(
                self.label_panel(
                    labels, paths, 'pseudo_labels',
                    with_miou(RANKED['pseudo_labels'][0],
                              miou.get('pseudo_labels'))))
        if args.conf_masks:
            row.after_cams.append(self.mask_panel(paths['conf_masks'], shape))
        if args.preds:
            row.after_cams.append(
                self.label_panel(
                    labels, paths, 'preds',
                    with_miou(RANKED['preds'][0], miou.get('preds'))))
        return row

    def fit(self, panel: Optional[np.ndarray]) -> np.ndarray:
        return (missing_panel(self.size)
                if panel is None else fit_panel(panel, self.size))

    def label_panel(self, labels: dict, paths: dict, name: str,
                    title: str) -> tuple:
        """Palette-coloured ``labels[name]`` (missing panel without it)."""
        if name not in labels:
            return self.fit(None), title
        try:
            colored = colorize_label(labels[name], self.palette)
        except ValueError as error:
            raise ValueError(f'{paths[name]}: {error}') from error
        return self.fit(colored), title

    def mask_panel(self, path: Optional[str], shape: tuple) -> tuple:
        title = 'confidence mask'
        if path is None:
            return self.fit(None), title
        mask = read_conf_mask(path)
        if mask.shape != shape:
            raise ValueError(f'{path} is of size {mask.shape}; expected the '
                             f'image size {shape}')
        return self.fit(mask_panel(mask)), title

    def cam_panels(self, path: Optional[str], image: np.ndarray) -> list:
        if path is None:
            return [(self.fit(None), 'CAMs')]
        keys, cams = load_cam(path)
        keys, cams = keys[:self.args.max_cams], cams[:self.args.max_cams]
        try:
            panels, titles = cam_panels(image, keys, cams, self.classes)
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from error
        return [(self.fit(p), t) for p, t in zip(panels, titles)]


def with_miou(title: str, miou: Optional[float], absent: str = '') -> str:
    """``title`` followed by ``miou`` in percent, or by ``absent`` when
    there is none."""
    text = absent if miou is None else f'{100 * miou:.1f}'
    return f'{title} {text}'.rstrip()


def compose(row: ImageRow, cam_slots: int, size: int) -> np.ndarray:
    """The row image, with ``cam_slots`` CAM columns (blank ones after this
    image's CAMs) so that the columns of all rows line up."""
    blanks = [(blank_panel(size), '')] * (cam_slots - len(row.cams))
    panels, titles = zip(*(row.before_cams + row.cams + blanks +
                           row.after_cams))
    return compose_row(panels, titles, row.label)


def classes_and_palette(
        args: argparse.Namespace) -> Tuple[List[str], List[tuple]]:
    """The class names, background first (the pipeline's ``classes``, else
    the ``--dataset``'s ``METAINFO``) and an RGB colour per class id (the
    ``METAINFO`` palette, or the VOC colour map when it has too few)."""
    dataset = DATASETS.get(args.dataset)
    classes = list(args.classes or dataset.METAINFO['classes'])
    palette = dataset.METAINFO.get('palette')
    if not palette or len(palette) < len(classes):
        palette = label_colormap(len(classes))
    return classes, list(palette)


def main(argv: Optional[Sequence[str]] = None) -> list:
    """Write ``<id>.png`` per image and the ``grid*.png`` pages; returns the
    paths written."""
    args = resolve_inputs(parse_args(argv))
    classes, palette = classes_and_palette(args)
    ids = (args.ids if args.ids is not None else rank_worst(
        args, len(classes)))
    if not ids:
        raise ValueError(f'no image to show: every ground truth of '
                         f'{args.split} is ignored (255) everywhere')
    load = RowLoader(args, classes, palette)
    rows = {img_id: load(img_id) for img_id in ids}
    cam_slots = max(len(row.cams) for row in rows.values())
    images = {
        img_id: compose(row, cam_slots, args.panel_size)
        for img_id, row in rows.items()
    }
    written = []
    for img_id, img in images.items():
        written.append(osp.join(args.out, f'{img_id}.png'))
        save_image(written[-1], img)
    pages = [
        list(images.values())[start:start + args.rows_per_page]
        for start in range(0, len(images), args.rows_per_page)
    ]
    for number, page in enumerate(pages, 1):
        name = 'grid.png' if len(pages) == 1 else f'grid_{number}.png'
        written.append(osp.join(args.out, name))
        save_image(written[-1], stack_rows(page))
    print(f'{len(images)} rows written to {args.out}')
    return written


if __name__ == '__main__':
    main()
