import json

import cv2
import numpy as np
import pytest

from tests.tool_loader import load_tool
from wsstool.datasets import SynthVOCDataset
from wsstool.datasets.label_io import label_colormap
from wsstool.fileio import save_cam, save_label_png
from wsstool.visualization.result_grid import (GAP, LABEL_HEIGHT,
                                               MISSING_GREY, TITLE_HEIGHT)

SIZE = 32  # --panel-size: the 16x16 inputs are enlarged twice
ROW_HEIGHT = LABEL_HEIGHT + TITLE_HEIGHT + SIZE
PALETTE = SynthVOCDataset.METAINFO['palette']


def row_width(columns: int) -> int:
    return columns * SIZE + (columns - 1) * GAP


def panel(img: np.ndarray, row: int, column: int) -> np.ndarray:
    """The (SIZE, SIZE, 3) panel at ``column`` of ``row`` of a grid."""
    top = row * (ROW_HEIGHT + GAP) + LABEL_HEIGHT + TITLE_HEIGHT
    left = column * (SIZE + GAP)
    return img[top:top + SIZE, left:left + SIZE]


@pytest.fixture(scope='module')
def visualize():
    return load_tool('visualize')


@pytest.fixture
def root(tmp_path):
    """VOC layout with three 16x16 images whose ground truth is background
    on the left half and class 3 (car, RGB (128, 128, 0)) on the right
    half, and outputs:

    * ``a``: 2 CAMs, prediction = ground truth (mIoU 1);
    * ``b``: 1 CAM, prediction all background (IoU 0.5 and 0: mIoU 0.25);
    * ``c``: 1 CAM, prediction missing the top 4 rows of the object
      (background IoU 128 / 160, car IoU 96 / 128: mIoU 0.775).
    """
    data = tmp_path / 'data'
    gt = np.zeros((16, 16), np.uint8)
    gt[:, 8:] = 3
    preds = dict(a=gt.copy(), b=np.zeros_like(gt), c=gt.copy())
    preds['c'][:4] = 0
    for img_id, pred in preds.items():
        (data / 'JPEGImages').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / 'JPEGImages' / f'{img_id}.jpg'),
                    np.full((16, 16, 3), 90, np.uint8))
        save_label_png(str(data / 'SegmentationClass' / f'{img_id}.png'), gt,
                       PALETTE)
        keys = [1, 3] if img_id == 'a' else [1]
        save_cam(str(tmp_path / 'cams' / f'{img_id}.npz'), keys,
                 np.random.default_rng(0).random((len(keys), 16, 16)))
        save_label_png(str(tmp_path / 'pseudo' / f'{img_id}.png'), gt,
                       PALETTE)
        save_label_png(str(tmp_path / 'conf' / f'{img_id}.png'),
                       (gt > 0).astype(np.uint8) * 255)
        save_label_png(str(tmp_path / 'pred' / f'{img_id}.png'), pred,
                       PALETTE)
    split = data / 'ImageSets' / 'Segmentation' / 'val.txt'
    split.parent.mkdir(parents=True)
    split.write_text('a\nb\nc\n')
    return tmp_path


def folder_args(root) -> list:
    return [
        '--data-root', str(root / 'data'), '--dataset', 'SynthVOCDataset',
        '--cams', str(root / 'cams'), '--pseudo-labels', str(root / 'pseudo'),
        '--conf-masks', str(root / 'conf'), '--preds', str(root / 'pred'),
        '--panel-size', str(SIZE)
    ]


def write_results(root, artifacts) -> str:
    work_dir = root / 'pipeline'
    work_dir.mkdir(exist_ok=True)
    (work_dir / 'results.json').write_text(
        json.dumps(dict(metrics={}, artifacts=artifacts)))
    return str(work_dir)


def test_chosen_ids(visualize, root):
    (root / 'conf' / 'c.png').unlink()
    out = root / 'out'
    written = visualize.main(folder_args(root) +
                             ['--ids', 'c', 'a', '--out', str(out)])
    assert written == [str(out / 'c.png'), str(out / 'a.png'),
                       str(out / 'grid.png')]
    # image, ground truth, 2 CAM columns (a has 2 CAMs), pseudo label,
    # confidence mask, prediction
    row_c, row_a = (cv2.imread(str(out / f'{i}.png')) for i in 'ca')
    assert row_c.shape == row_a.shape == (ROW_HEIGHT, row_width(7), 3)
    grid = cv2.imread(str(out / 'grid.png'))
    assert grid.shape == (2 * ROW_HEIGHT + GAP, row_width(7), 3)
    np.testing.assert_array_equal(grid[:ROW_HEIGHT], row_c)
    np.testing.assert_array_equal(grid[ROW_HEIGHT + GAP:], row_a)
    # ground truth in palette colours (BGR), enlarged twice
    gt_panel = panel(grid, 1, 1)
    assert (gt_panel[:, :16] == 0).all()
    assert PALETTE[3] == (128, 128, 0)
    assert (gt_panel[:, 16:] == (0, 128, 128)).all()
    # c has a single CAM: its second CAM column is blank
    assert (panel(grid, 0, 3) == 255).all()
    assert not (panel(grid, 1, 3) == 255).all()
    # c's confidence mask is missing, a's is white on the object
    assert (panel(grid, 0, 5)[:4, :4] == MISSING_GREY).all()
    assert (panel(grid, 1, 5)[:, 16:] == 255).all()
    assert (panel(grid, 1, 5)[:, :16] == 0).all()


def test_worst_ranks_predictions(visualize, root):
    out = root / 'out'
    written = visualize.main(folder_args(root) + [
        '--worst', '2', '--split', 'ImageSets/Segmentation/val.txt',
        '--max-cams', '1', '--out', str(out)
    ])
    assert written == [str(out / 'b.png'), str(out / 'c.png'),
                       str(out / 'grid.png')]
    grid = cv2.imread(str(out / 'grid.png'))
    assert grid.shape == (2 * ROW_HEIGHT + GAP, row_width(6), 3)
    np.testing.assert_array_equal(grid[:ROW_HEIGHT],
                                  cv2.imread(str(out / 'b.png')))
    # b's prediction is all background
    assert (panel(grid, 0, 5) == 0).all()


def test_pages(visualize, root):
    out = root / 'out'
    written = visualize.main(folder_args(root) + [
        '--ids', 'a', 'b', 'c', '--rows-per-page', '2', '--out', str(out)
    ])
    assert written[-2:] == [str(out / 'grid_1.png'), str(out / 'grid_2.png')]
    assert cv2.imread(written[-1]).shape == (ROW_HEIGHT, row_width(7), 3)


def test_pipeline_results(visualize, root):
    work_dir = write_results(
        root,
        dict(
            data_root=str(root / 'data'),
            dataset='SynthVOCDataset',
            cams=str(root / 'cams'),
            pseudo_labels=str(root / 'pseudo'),
            predictions=str(root / 'pred'),
            prediction_split='ImageSets/Segmentation/val.txt',
            pseudo_label_split=str(root / 'pseudo.txt')))
    (root / 'pseudo.txt').write_text('c\n')
    out = root / 'out'
    common = ['--pipeline', work_dir, '--panel-size', str(SIZE), '--out',
              str(out), '--worst', '1', '--max-cams', '1']
    written = visualize.main(common)
    assert written == [str(out / 'b.png'), str(out / 'grid.png')]
    # no confidence masks in the artifacts: image, ground truth, CAM,
    # pseudo label, prediction
    assert cv2.imread(written[0]).shape == (ROW_HEIGHT, row_width(5), 3)
    # an explicit folder overrides the artifacts: with the ground truth as
    # predictions every image scores 1, and ties go by id
    written = visualize.main(
        common + ['--preds', str(root / 'data' / 'SegmentationClass')])
    assert written == [str(out / 'a.png'), str(out / 'grid.png')]
    # the split follows the ranked labels
    written = visualize.main(common + ['--rank-by', 'pseudo-labels'])
    assert written == [str(out / 'c.png'), str(out / 'grid.png')]


def test_pipeline_classes_name_the_cams(visualize, root):
    """A pipeline whose dataset instance has 4 classes: its names title the
    CAMs, the METAINFO palette (9 colours) colours the labels."""
    classes = ['background', 'plane', 'bike', 'car']
    work_dir = write_results(
        root,
        dict(data_root=str(root / 'data'), dataset='SynthVOCDataset',
             classes=classes, cams=str(root / 'cams')))
    args = visualize.resolve_inputs(visualize.parse_args(
        ['--pipeline', work_dir, '--ids', 'b', '--out', str(root / 'out')]))
    assert visualize.classes_and_palette(args) == (classes, list(PALETTE))
    row = visualize.RowLoader(args, classes, PALETTE)('b')
    # b's CAM has class index 1: the second foreground class of the 4
    assert [title for _, title in row.cams] == ['bike']
    # no labels given, nothing ranked: the row label is the id alone
    assert row.label == 'b'
    # a has a CAM of class index 3, which the 4 classes do not have
    with pytest.raises(ValueError,
                       match=r'a\.npz: CAM class indices \[3\] are not '
                       r'foreground classes: expected 0\.\.2'):
        visualize.main(['--pipeline', work_dir, '--ids', 'a', '--out',
                        str(root / 'out')])


def test_palette_of_too_few_colours_is_the_voc_colour_map(visualize, root):
    classes = [f'class {i}' for i in range(12)]
    args = visualize.parse_args(['--ids', 'a', '--out', str(root / 'out'),
                                 '--dataset', 'SynthVOCDataset'])
    args.classes = classes
    assert visualize.classes_and_palette(args) == (classes,
                                                   label_colormap(12))


def test_pipeline_errors(visualize, root):
    args = ['--pipeline', str(root / 'nowhere'), '--ids', 'a', '--out',
            str(root / 'out')]
    with pytest.raises(FileNotFoundError, match='nowhere/results.json'):
        visualize.main(args)
    work_dir = root / 'pipeline'
    work_dir.mkdir()
    (work_dir / 'results.json').write_text('{"metrics": {}}')
    args[1] = str(work_dir)
    with pytest.raises(KeyError, match='no "artifacts"'):
        visualize.main(args)
    write_results(root, dict(cams=str(root / 'cams')))
    with pytest.raises(ValueError, match='no data_root: give --data-root'):
        visualize.main(args)


def test_input_errors(visualize, root):
    out = ['--out', str(root / 'out')]
    with pytest.raises(FileNotFoundError, match=r'image x: .*x\.jpg'):
        visualize.main(folder_args(root) + ['--ids', 'x'] + out)
    cv2.imwrite(str(root / 'data' / 'JPEGImages' / 'd.jpg'),
                np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='d has no file in any'):
        visualize.main(folder_args(root) + ['--ids', 'd'] + out)
    save_label_png(str(root / 'pred' / 'a.png'), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r'pred/a\.png is of size \(8, 8\)'):
        visualize.main(folder_args(root) + ['--ids', 'a'] + out)
    (root / 'data' / 'SegmentationClass' / 'a.png').rename(
        root / 'data' / 'SegmentationClass' / 'd.png')
    (root / 'data' / 'ImageSets' / 'Segmentation' / 'val.txt').write_text(
        'b\nc\nd\n')
    with pytest.raises(FileNotFoundError, match=r"1 of the 3 .* \['d'\]"):
        visualize.main(folder_args(root) + [
            '--worst', '1', '--split', 'ImageSets/Segmentation/val.txt'
        ] + out)
    dataset = ['--data-root', str(root / 'data'), '--dataset',
               'SynthVOCDataset']
    with pytest.raises(ValueError, match='nothing to show'):
        visualize.main(dataset + ['--ids', 'a'] + out)
    with pytest.raises(ValueError, match='ranks the predictions: give --pre'):
        visualize.main(dataset + [
            '--cams', str(root / 'cams'), '--worst', '1', '--rank-by', 'preds'
        ] + out)
