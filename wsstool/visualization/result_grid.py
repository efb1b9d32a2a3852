"""Compose result grids: one row of titled panels per image (image, ground
truth, CAMs, pseudo label, confidence mask, prediction), for a person to
look at.

Every image array is (H, W, 3) uint8 BGR, as OpenCV reads and writes them.
A row is a band with the row label over a band of panel titles over the
panels, each panel letterboxed into a ``size`` x ``size`` square, ``GAP``
white pixels apart::

    2007_000032   prediction mIoU 41.3        <- LABEL_HEIGHT
    image      ground truth   dog             <- TITLE_HEIGHT
    +--------+ +--------+ +--------+
    | panel  | | panel  | | panel  |          <- size
    +--------+ +--------+ +--------+
"""
from typing import Mapping, Sequence, Tuple

import cv2
import numpy as np
import torch

from wsstool.evaluation import class_scores, confusion_matrix
from wsstool.fileio import full_palette
from .cam_overlay import overlay_heatmap

LABEL_HEIGHT = 22
TITLE_HEIGHT = 18
GAP = 2
BACKGROUND = 255
MISSING_GREY = 200
TEXT_COLOR = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
MIN_FONT_SCALE = 0.3


def colorize_label(label: np.ndarray,
                   palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Colour a label map with a dataset palette.

    Args:
        label (np.ndarray): (H, W) integer class ids; 255 marks ignored
            pixels.
        palette (Sequence[Sequence[int]]): RGB triple per class id (a
            dataset's ``metainfo['palette']``).

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR: ``palette[i]`` for id ``i`` and,
        unless the palette defines it, the VOC void colour (224, 224, 192)
        for 255, as in the label PNGs written by
        :func:`wsstool.fileio.save_label_png`.
    """
    label = np.asarray(label)
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f'label must be an (H, W) integer array, got '
                         f'{label.dtype} {label.shape}')
    values = np.unique(label)
    unknown = values[((values < 0) | (values >= len(palette)))
                     & (values != 255)]
    if unknown.size:
        raise ValueError(
            f'label holds ids {unknown[:10].tolist()} that have no colour: '
            f'the palette has {len(palette)} entries (and 255 = ignore)')
    return full_palette(palette)[label.astype(np.int64)][..., ::-1].copy()


def mask_panel(mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR view of a bool (H, W) confidence mask: white
    where confident, black elsewhere."""
    return np.repeat(np.where(mask, 255, 0).astype(np.uint8)[..., None], 3,
                     axis=2)


def cam_panels(image: np.ndarray, keys: np.ndarray, cams: np.ndarray,
               class_names: Sequence[str]) -> Tuple[list, list]:
    """One JET heat map per CAM blended over the image, titled by class.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR image.
        keys (np.ndarray): (K,) foreground class indices of ``cams``
            (0 = first foreground class, as in wsstool CAM files).
        cams (np.ndarray): (K, H, W) CAMs in [0, 1] (values outside are
            clipped).
        class_names (Sequence[str]): All class names, background first, so
            key ``k`` is ``class_names[k + 1]`` (a dataset's
            ``metainfo['classes']``; unlike
            :func:`~wsstool.visualization.cam_overlay.cam_overlay_grid`,
            which takes the foreground names only).

    Returns:
        tuple: K panels (H, W, 3) uint8 BGR and K titles.
    """
    if cams.ndim != 3 or len(cams) != len(keys):
        raise ValueError(f'cams of shape {cams.shape} and keys of shape '
                         f'{np.shape(keys)}: expected (K, H, W) and (K,)')
    if cams.shape[1:] != image.shape[:2]:
        raise ValueError(f'CAMs of size {cams.shape[1:]} do not match the '
                         f'image of size {image.shape[:2]}')
    bad = [int(k) for k in keys if not 0 <= k < len(class_names) - 1]
    if bad:
        raise ValueError(f'CAM class indices {bad} are not foreground '
                         f'classes: expected 0..{len(class_names) - 2}')
    panels = [overlay_heatmap(image, cam) for cam in cams]
    return panels, [class_names[int(k) + 1] for k in keys]


def per_image_miou(pred: np.ndarray,
                   gt: np.ndarray,
                   num_classes: int,
                   ignore_index: int = 255) -> float:
    """mIoU of one label map over the classes present in its ground truth
    or prediction (``nan_policy='nanmean'``), pixels ignored in the ground
    truth left out.

    Args:
        pred (np.ndarray): (H, W) predicted ids in [0, K); pixels equal to
            ``ignore_index`` (unsure pixels of IR-style labels) count as
            background, as in IRN's evaluation.
        gt (np.ndarray): (H, W) ground-truth ids in [0, K) or
            ``ignore_index``.
        num_classes (int): K, background included.
        ignore_index (int): Ignored ground-truth value. Defaults to 255.

    Returns:
        float: mIoU as a fraction in [0, 1]; nan when every ground-truth
        pixel is ignored.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'prediction of shape {pred.shape} and ground truth '
                         f'of shape {gt.shape} must have the same size')
    pred = torch.from_numpy(np.asarray(pred, np.int64))
    pred = torch.where(pred == ignore_index, 0, pred)
    confusion = confusion_matrix(
        torch.from_numpy(np.asarray(gt, np.int64)), pred, num_classes,
        ignore_index)
    return float(class_scores(confusion.numpy(), 'nanmean')['mIoU'])


def worst_images(scores: Mapping[str, float], num: int) -> list:
    """The ``num`` image ids of lowest score, lowest first (ties by id);
    nan scores (nothing to evaluate) are left out."""
    ranked = sorted((score, img_id) for img_id, score in scores.items()
                    if not np.isnan(score))
    return [img_id for _, img_id in ranked[:num]]


def fit_panel(panel: np.ndarray, size: int) -> np.ndarray:
    """Scale a (H, W, 3) panel so that its longer side is ``size`` (nearest
    neighbour when enlarging, so that label pixels stay sharp; area
    averaging when shrinking) and centre it on a white ``size`` x ``size``
    square."""
    height, width = panel.shape[:2]
    scale = size / max(height, width)
    new_h = max(1, round(height * scale))
    new_w = max(1, round(width * scale))
    resized = cv2.resize(
        panel, (new_w, new_h),
        interpolation=cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA)
    square = np.full((size, size, 3), BACKGROUND, np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    square[top:top + new_h, left:left + new_w] = resized
    return square


def missing_panel(size: int, text: str = 'missing') -> np.ndarray:
    """A grey ``size`` x ``size`` panel saying ``text`` (a file not
    found)."""
    panel = np.full((size, size, 3), MISSING_GREY, np.uint8)
    put_text(panel, text, center=True)
    return panel


def blank_panel(size: int) -> np.ndarray:
    """A white ``size`` x ``size`` panel filling an unused column."""
    return _white(size, size)


def put_text(canvas: np.ndarray, text: str, center: bool = False) -> None:
    """Write ``text`` in place on a (H, W, 3) canvas, shrunk (then cut) to
    fit its width; left-aligned and vertically centred, or centred both
    ways with ``center``."""
    height, width = canvas.shape[:2]
    available = width - 4
    scale = FONT_SCALE
    text_w = cv2.getTextSize(text, FONT, scale, 1)[0][0]
    if text_w > available:
        scale = max(MIN_FONT_SCALE, scale * available / text_w)
    while text and cv2.getTextSize(text, FONT, scale, 1)[0][0] > available:
        text = text[:-1]
    (text_w, text_h), _ = cv2.getTextSize(text, FONT, scale, 1)
    left = (width - text_w) // 2 if center else 2
    baseline_y = (height + text_h) // 2
    cv2.putText(canvas, text, (left, baseline_y), FONT, scale, TEXT_COLOR, 1,
                cv2.LINE_AA)


def compose_row(panels: Sequence[np.ndarray], titles: Sequence[str],
                label: str) -> np.ndarray:
    """Lay out square panels side by side under their titles and a row
    label.

    Args:
        panels (Sequence[np.ndarray]): N (size, size, 3) uint8 BGR panels
            (see :func:`fit_panel`).
        titles (Sequence[str]): N panel titles.
        label (str): Row label, e.g. the image id and its mIoU.

    Returns:
        np.ndarray: (LABEL_HEIGHT + TITLE_HEIGHT + size,
        N * size + (N - 1) * GAP, 3) uint8 BGR.
    """
    if not panels or len(panels) != len(titles):
        raise ValueError(f'compose_row needs as many titles as panels (at '
                         f'least one), got {len(panels)} panels and '
                         f'{len(titles)} titles')
    size = panels[0].shape[0]
    for panel in panels:
        if panel.shape != (size, size, 3):
            raise ValueError(f'panels must all be ({size}, {size}, 3), got '
                             f'{panel.shape}')
    columns = []
    for panel, title in zip(panels, titles):
        band = _white(TITLE_HEIGHT, size)
        put_text(band, title)
        columns += [
            np.concatenate([band, panel]),
            _white(TITLE_HEIGHT + size, GAP)
        ]
    body = np.concatenate(columns[:-1], axis=1)
    header = _white(LABEL_HEIGHT, body.shape[1])
    put_text(header, label)
    return np.concatenate([header, body])


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Stack rows top to bottom, ``GAP`` pixels apart, padding narrower
    rows on the right with white.

    Returns:
        np.ndarray: (sum of heights + (R - 1) * GAP, widest width, 3) uint8.
    """
    if not rows:
        raise ValueError('stack_rows needs at least one row')
    width = max(row.shape[1] for row in rows)
    parts = []
    for row in rows:
        pad = _white(row.shape[0], width - row.shape[1])
        parts += [np.concatenate([row, pad], axis=1), _white(GAP, width)]
    return np.concatenate(parts[:-1])


def _white(height: int, width: int) -> np.ndarray:
    """A white (height, width, 3) uint8 block."""
    return np.full((height, width, 3), BACKGROUND, np.uint8)
