import cv2
import numpy as np
import pytest
from PIL import Image

from wsstool.fileio import (full_palette, load_label_png, save_image,
                            save_label_png)

LABEL = np.array([[0, 1, 2], [20, 255, 3]], dtype=np.uint8)


def test_grey_round_trip(tmp_path):
    path = str(tmp_path / 'a.png')
    save_label_png(path, LABEL.astype(np.int64))
    with Image.open(path) as image:
        assert image.mode == 'L'
    loaded = load_label_png(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, LABEL)


def test_palette_round_trip(tmp_path):
    path = str(tmp_path / 'a.png')
    palette = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    save_label_png(path, LABEL, palette=palette)
    with Image.open(path) as image:
        assert image.mode == 'P'
        colors = np.array(image.getpalette()).reshape(-1, 3)
        rgb = np.array(image.convert('RGB'))
    np.testing.assert_array_equal(colors[:4], palette)
    np.testing.assert_array_equal(colors[255], (224, 224, 192))
    np.testing.assert_array_equal(rgb[0, 1], (128, 0, 0))
    np.testing.assert_array_equal(load_label_png(path), LABEL)


def test_reads_palette_png_written_elsewhere(tmp_path):
    image = Image.fromarray(LABEL)
    image.putpalette([255, 0, 0] * 256)
    assert image.mode == 'P'
    image.save(tmp_path / 'voc.png')
    np.testing.assert_array_equal(load_label_png(str(tmp_path / 'voc.png')),
                                  LABEL)


def test_rejects_colour_images(tmp_path):
    Image.new('RGB', (3, 2)).save(tmp_path / 'rgb.png')
    with pytest.raises(ValueError, match="rgb.png is a 'RGB' image"):
        load_label_png(str(tmp_path / 'rgb.png'))


def test_bad_labels_and_palettes(tmp_path):
    path = str(tmp_path / 'a.png')
    with pytest.raises(ValueError, match='integer array'):
        save_label_png(path, LABEL.astype(np.float32))
    with pytest.raises(ValueError, match='integer array'):
        save_label_png(path, LABEL[None])
    with pytest.raises(ValueError, match='got \\[1, 256\\]'):
        save_label_png(path, LABEL.astype(np.int64) + 1)
    with pytest.raises(ValueError, match='RGB triples'):
        save_label_png(path, LABEL, palette=[(0, 0)])
    assert list(tmp_path.iterdir()) == []


def test_full_palette_fills_the_256_ids():
    colors = full_palette([(1, 2, 3), (4, 5, 6)])
    assert colors.shape == (256, 3) and colors.dtype == np.uint8
    assert colors[:3].tolist() == [[1, 2, 3], [4, 5, 6], [0, 0, 0]]
    assert colors[255].tolist() == [224, 224, 192]
    # a palette of 256 colours defines 255 itself
    assert full_palette([(7, 7, 7)] * 256)[255].tolist() == [7, 7, 7]


def test_save_image_encodes_by_extension(tmp_path):
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    save_image(str(tmp_path / 'a.png'), img)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / 'a.png')), img)
    ids = np.array([[0, 300], [65535, 7]], np.uint16)
    save_image(str(tmp_path / 'ids.png'), ids)
    np.testing.assert_array_equal(
        cv2.imread(str(tmp_path / 'ids.png'), cv2.IMREAD_UNCHANGED), ids)
    save_image(str(tmp_path / 'a.jpg'), img)
    with open(tmp_path / 'a.jpg', 'rb') as f:
        assert f.read(2) == b'\xff\xd8'  # JPEG start-of-image marker
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'a.jpg', 'a.png', 'ids.png']
