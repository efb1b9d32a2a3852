"""Read and write label maps (class ids, 255 = ignore) as PNG files; write
images."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from .atomic import atomic_write

VOID_COLOR = (224, 224, 192)


def full_palette(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """The 256-colour palette of a label PNG: the given RGB triples, black
    for the other ids, and :data:`VOID_COLOR` for 255 unless the palette
    defines it.

    Args:
        palette (Sequence[Sequence[int]]): At most 256 RGB triples in
            [0, 255], one per class id (a dataset's
            ``metainfo['palette']``).

    Returns:
        np.ndarray: (256, 3) uint8 RGB colour of every id.
    """
    colors = np.asarray(palette, dtype=np.int64)
    if (colors.ndim != 2 or colors.shape[1] != 3 or len(colors) > 256
            or colors.min() < 0 or colors.max() > 255):
        raise ValueError('palette must be at most 256 RGB triples in '
                         f'[0, 255]; got an array of shape {colors.shape}')
    full = np.zeros((256, 3), dtype=np.uint8)
    full[255] = VOID_COLOR
    full[:len(colors)] = colors
    return full


def save_label_png(path: str,
                   label: np.ndarray,
                   palette: Optional[Sequence[Sequence[int]]] = None) -> None:
    """Write a label map atomically as a single-channel uint8 PNG.

    Args:
        path (str): Output ``.png`` file.
        label (np.ndarray): (H, W) integer class ids in [0, 255].
        palette (Sequence[Sequence[int]], optional): RGB triple per class id
            (e.g. ``dataset.metainfo['palette']``); the PNG is then a palette
            ("P") image whose pixel values are still the class ids. None
            writes a plain grey-level PNG, as the reference pipelines do.
    """
    label = np.asarray(label)
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f'save_label_png({path!r}): label must be an (H, W) '
                         f'integer array, got {label.dtype} {label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(
            f'save_label_png({path!r}): label values must lie in [0, 255], '
            f'got [{label.min()}, {label.max()}]')
    image = Image.fromarray(label.astype(np.uint8))
    if palette is not None:
        image.putpalette(full_palette(palette).reshape(-1).tolist())
    with atomic_write(path) as f:
        image.save(f, format='PNG')


def load_label_png(path: str) -> np.ndarray:
    """Read a palette or grey-level label PNG as class ids, uint8 (H, W)."""
    with Image.open(path) as image:
        if image.mode not in ('P', 'L'):
            raise ValueError(
                f'{path} is a {image.mode!r} image: expected a label map '
                "stored as a grey-level ('L') or palette ('P') PNG whose "
                'pixel values are class ids')
        return np.array(image, dtype=np.uint8)


def save_image(path: str, img: np.ndarray) -> None:
    """Encode an image in the format of ``path``'s extension (``.png``,
    ``.jpg``, ... as OpenCV writes them) and write it atomically.

    Args:
        path (str): Output file.
        img (np.ndarray): (H, W) grey-level or (H, W, 3) BGR image, uint8
            (or uint16 for PNG).
    """
    ok, encoded = cv2.imencode(osp.splitext(path)[1], img)
    if not ok:
        raise ValueError(f'cannot encode a {img.dtype} image of shape '
                         f'{img.shape} as {path}')
    with atomic_write(path) as f:
        f.write(encoded.tobytes())
