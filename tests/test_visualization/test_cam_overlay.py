import numpy as np
import pytest

from wsstool.visualization import cam_overlay_grid, overlay_heatmap


def test_zero_alpha_keeps_image():
    img = np.random.RandomState(0).randint(0, 255, (8, 10, 3), np.uint8)
    out = overlay_heatmap(img, np.ones((8, 10)), alpha=0.0)
    np.testing.assert_array_equal(out, img)


def test_hot_region_turns_red():
    img = np.zeros((4, 4, 3), np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = overlay_heatmap(img, heat, alpha=1.0)
    assert out[0, 0, 2] > 100 and out[0, 0, 0] < 50  # JET max is red (BGR)
    assert out[3, 3, 0] > 100  # JET min is blue


def test_grid_has_one_tile_per_class():
    img = np.zeros((20, 30, 3), np.uint8)
    grid = cam_overlay_grid(img, np.zeros((2, 20, 30)), [0, 3],
                            ['a', 'b', 'c', 'd'])
    assert grid.shape == (20, 90, 3)


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match='same size'):
        overlay_heatmap(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4)))
