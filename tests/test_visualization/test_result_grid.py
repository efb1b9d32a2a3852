import numpy as np
import pytest

from wsstool.fileio.label_io import VOID_COLOR
from wsstool.visualization.result_grid import (BACKGROUND, GAP, LABEL_HEIGHT,
                                               TITLE_HEIGHT, cam_panels,
                                               colorize_label, compose_row,
                                               fit_panel, mask_panel,
                                               missing_panel, per_image_miou,
                                               stack_rows, worst_images)

PALETTE = ((0, 0, 0), (128, 0, 0), (0, 128, 64))


def test_colorize_label_uses_palette_and_void_colour():
    label = np.array([[0, 1], [2, 255]], np.uint8)
    colored = colorize_label(label, PALETTE)
    assert colored.shape == (2, 2, 3) and colored.dtype == np.uint8
    # BGR: the palette's RGB triples reversed
    assert colored[0, 0].tolist() == [0, 0, 0]
    assert colored[0, 1].tolist() == [0, 0, 128]
    assert colored[1, 0].tolist() == [64, 128, 0]
    assert colored[1, 1].tolist() == list(VOID_COLOR[::-1])


def test_colorize_label_rejects_ids_without_colour():
    with pytest.raises(ValueError, match=r'ids \[3, 7\].*3 entries'):
        colorize_label(np.array([[3, 7, 255]]), PALETTE)
    with pytest.raises(ValueError, match='integer'):
        colorize_label(np.zeros((2, 2), np.float32), PALETTE)


def test_mask_panel_is_white_where_confident():
    panel = mask_panel(np.array([[True, False]]))
    assert panel.tolist() == [[[255] * 3, [0] * 3]]


def test_cam_panels_heat_map_at_max_and_min():
    image = np.full((4, 5, 3), 100, np.uint8)
    cams = np.zeros((2, 4, 5), np.float32)
    cams[0, 0, 0] = 1.0
    panels, titles = cam_panels(image, np.array([2, 0]), cams,
                                ('background', 'cat', 'dog', 'cow'))
    assert titles == ['cow', 'cat']
    assert len(panels) == 2 and panels[0].shape == (4, 5, 3)
    hot, cold = panels[0][0, 0].astype(int), panels[0][3, 4].astype(int)
    # JET maps 1 to dark red (BGR 0, 0, 128) and 0 to dark blue
    # (128, 0, 0), blended half and half with the grey image
    assert hot.tolist() == [50, 50, 114]
    assert cold.tolist() == [114, 50, 50]
    assert (panels[1] == cold).all()


def test_cam_panels_check_sizes_and_classes():
    image = np.zeros((4, 5, 3), np.uint8)
    names = ('background', 'cat')
    with pytest.raises(ValueError, match='do not match the image'):
        cam_panels(image, np.array([0]), np.zeros((1, 4, 4)), names)
    with pytest.raises(ValueError, match=r'indices \[1\].*expected 0\.\.0'):
        cam_panels(image, np.array([1]), np.zeros((1, 4, 5)), names)


def test_per_image_miou_hand_computed():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 255]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 2, 0]])
    # class 0: TP 3, union 4 + 3 - 3; class 1: TP 2, union 3 + 3 - 2;
    # class 2: predicted once, TP 0; class 3 absent from both: left out
    assert per_image_miou(pred, gt, 4) == pytest.approx((3 / 4 + 2 / 4) / 3)
    # a predicted 255 counts as background: class 0 TP 3, union 4 + 4 - 3
    pred[1, 2] = 255
    assert per_image_miou(pred, gt, 4) == pytest.approx((3 / 5 + 2 / 4) / 2)


def test_per_image_miou_edge_cases():
    assert np.isnan(per_image_miou(np.zeros((2, 2)), np.full((2, 2), 255), 3))
    with pytest.raises(ValueError, match='same size'):
        per_image_miou(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match=r'prediction holds values \[5\]'):
        per_image_miou(np.full((2, 2), 5), np.zeros((2, 2)), 3)


def test_worst_images_lowest_first_without_nan():
    scores = dict(a=0.5, b=0.1, c=float('nan'), d=0.1, e=0.9)
    assert worst_images(scores, 3) == ['b', 'd', 'a']
    assert worst_images(scores, 10) == ['b', 'd', 'a', 'e']


def test_fit_panel_enlarges_sharp_and_centres():
    panel = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    square = fit_panel(panel, 8)
    assert square.shape == (8, 8, 3)
    np.testing.assert_array_equal(
        square[2:6], panel.repeat(2, axis=0).repeat(2, axis=1))
    assert (square[:2] == BACKGROUND).all()
    assert (square[6:] == BACKGROUND).all()
    shrunk = fit_panel(np.full((16, 12, 3), 7, np.uint8), 8)
    assert (shrunk[:, 1:7] == 7).all() and (shrunk[:, 0] == BACKGROUND).all()


def test_compose_row_layout():
    size = 24
    panels = [np.full((size, size, 3), value, np.uint8) for value in (10, 20)]
    row = compose_row(panels + [missing_panel(size)], ['a', 'b', 'c'],
                      'img 1   mIoU 50.0')
    assert row.shape == (LABEL_HEIGHT + TITLE_HEIGHT + size,
                         3 * size + 2 * GAP, 3)
    top = LABEL_HEIGHT + TITLE_HEIGHT
    assert (row[top:, :size] == 10).all()
    assert (row[top:, size:size + GAP] == BACKGROUND).all()
    assert (row[top:, size + GAP:2 * size + GAP] == 20).all()
    # label and titles are written in black on white
    assert row[:LABEL_HEIGHT].min() == 0
    assert row[LABEL_HEIGHT:top, :size].min() == 0
    with pytest.raises(ValueError, match='as many titles'):
        compose_row(panels, ['a'], 'x')
    with pytest.raises(ValueError, match=r'\(24, 24, 3\)'):
        compose_row([panels[0], np.zeros((8, 8, 3), np.uint8)], ['a', 'b'],
                    'x')


def test_stack_rows_pads_narrow_rows():
    wide = np.zeros((3, 5, 3), np.uint8)
    narrow = np.ones((2, 4, 3), np.uint8)
    grid = stack_rows([wide, narrow])
    assert grid.shape == (3 + GAP + 2, 5, 3)
    assert (grid[:3] == 0).all()
    assert (grid[3:3 + GAP] == BACKGROUND).all()
    assert (grid[3 + GAP:, :4] == 1).all()
    assert (grid[3 + GAP:, 4] == BACKGROUND).all()
