import numpy as np
import pytest
from PIL import Image

from wsstool.fileio import load_label_png, save_label_png

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
