"""Draw CAMs over their image for a person to look at."""
from typing import Sequence

import cv2
import numpy as np


def overlay_heatmap(img: np.ndarray,
                    heatmap: np.ndarray,
                    alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured heat map onto an image.

    Args:
        img: (H, W, 3) uint8 BGR image.
        heatmap: (H, W) float map in [0, 1].
        alpha: weight of the heat map.

    Returns:
        (H, W, 3) uint8 BGR image.
    """
    if img.shape[:2] != heatmap.shape:
        raise ValueError(f'image {img.shape[:2]} and heat map '
                         f'{heatmap.shape} must have the same size')
    levels = np.clip(heatmap * 255, 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(levels, cv2.COLORMAP_JET)
    return cv2.addWeighted(img, 1 - alpha, colour, alpha, 0)


def cam_overlay_grid(img: np.ndarray, cams: np.ndarray, keys: Sequence[int],
                     class_names: Sequence[str]) -> np.ndarray:
    """Tile the image and one overlay per class side by side, each titled.

    Args:
        img: (H, W, 3) uint8 BGR image.
        cams: (K, H, W) float CAMs in [0, 1].
        keys: (K,) foreground class indices of ``cams``.
        class_names: foreground class names only, indexed by ``keys``
            (key ``k`` is ``class_names[k]``; unlike
            :func:`~wsstool.visualization.result_grid.cam_panels`, which
            takes all class names, background first).

    Returns:
        (H, W * (K + 1), 3) uint8 BGR image.
    """
    tiles = [img.copy()]
    titles = ['image']
    for key, cam in zip(keys, cams):
        tiles.append(overlay_heatmap(img, cam))
        titles.append(class_names[int(key)])
    for tile, title in zip(tiles, titles):
        cv2.putText(tile, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate(tiles, axis=1)
