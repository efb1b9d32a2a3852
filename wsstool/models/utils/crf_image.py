"""The image a dense CRF runs on: the original RGB image of a data sample,
read from its ``img_path``."""
from typing import Sequence

import mmcv
import numpy as np

CRF_IMAGE_MODES = ('raw', 'mean_sub_uint8_wrap')
# RGB mean that BECO's test.py subtracts from the CRF image
BECO_CRF_IMAGE_MEAN = (122.675, 116.669, 104.008)


def mean_sub_uint8_wrap(image: np.ndarray,
                        mean: Sequence[float] = BECO_CRF_IMAGE_MEAN
                        ) -> np.ndarray:
    """BECO's corrupted CRF image: ``image - mean`` truncated toward zero,
    modulo 256, as uint8.

    BECO's ``test.py`` subtracts the mean from the float image and casts it
    to uint8, so negative values wrap around (e.g. 0 - 122.675 -> -122 ->
    134) and the bilateral term sees a corrupted image.

    Args:
        image (np.ndarray): (H, W, 3) RGB uint8 image.
        mean (Sequence[float]): RGB mean.

    Returns:
        np.ndarray: (H, W, 3) uint8 image.
    """
    shifted = np.trunc(image.astype(np.float64) - np.asarray(mean))
    return np.mod(shifted.astype(np.int64), 256).astype(np.uint8)


def read_crf_image(data_sample, mode: str = 'raw',
                   owner: str = 'CRF') -> np.ndarray:
    """The (H, W, 3) RGB uint8 image of a data sample at its original size,
    read from its ``img_path``, for a dense CRF.

    Args:
        data_sample (WSSSDataSample): A sample with ``img_path``.
        mode (str): ``'raw'`` (the image as read) or
            ``'mean_sub_uint8_wrap'`` (BECO's corrupted image,
            :func:`mean_sub_uint8_wrap`).
        owner (str): What needs the image, named in errors.

    Raises:
        ValueError: If ``mode`` is unknown or the sample has no
            ``img_path``.
        OSError: If the file cannot be decoded as an image.
    """
    if mode not in CRF_IMAGE_MODES:
        raise ValueError(f'{owner}: unknown CRF image mode {mode!r}; '
                         f'expected one of {CRF_IMAGE_MODES}.')
    if 'img_path' not in data_sample:
        raise ValueError(f'{owner} needs img_path on the data sample to '
                         'read the CRF image.')
    path = data_sample.img_path
    image = mmcv.imread(path)
    if image is None:
        raise OSError(f'{owner}: cannot decode the CRF image {path!r}.')
    image = mmcv.bgr2rgb(image)
    if mode == 'mean_sub_uint8_wrap':
        return mean_sub_uint8_wrap(image)
    return image
