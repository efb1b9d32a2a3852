"""Relation labels from CAMs: the training targets of IRNet and AffinityNet.

A relation label map is uint8 (H, W): 0 = background, c + 1 = foreground
class c, 255 = unsure (no pair involving such a pixel is trained).

* :class:`ThresholdRelationLabel` (IRN ``cam_to_ir_label``): a confident
  foreground labelling (constant background score ``fg_thresh``) and a
  confident background labelling (``bg_thresh``), each refined by a label
  CRF; foreground comes from the first, background only where both agree.
* :class:`AlphaRelationLabel` (PSA/SEAM/AEFT la/ha maps): CRF probabilities
  with a strong ``(1 - max)^alpha_low`` and a weak ``(1 - max)^alpha_high``
  background; foreground from the first, background from the second.
"""
from abc import ABCMeta, abstractmethod
from typing import Sequence

import numpy as np

from wsstool.registry import REFINERS
from .dense_crf import DenseCRF, crf_cam_with_alpha

UNSURE = 255
_UNARY_NAMES = dict(label='label', prob='probability')


def check_cam_inputs(image: np.ndarray, keys: np.ndarray, cams: np.ndarray,
                     caller: str) -> None:
    """Check an (H, W, 3) uint8 image, (K,) integer keys in [0, 254) and
    (K, H, W) CAMs normalised to at most 1; raise a ValueError naming
    ``caller`` and the offending shapes or values."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'{caller} needs an (H, W, 3) RGB uint8 image, got '
                         f'{image.dtype} of shape {image.shape}')
    if cams.ndim != 3 or cams.shape[1:] != image.shape[:2]:
        raise ValueError(f'{caller} got cams of shape {cams.shape} for an '
                         f'image of shape {image.shape}; expected (K, H, W) '
                         'with the image\'s H and W')
    if keys.ndim != 1 or len(keys) != len(cams) or not np.issubdtype(
            keys.dtype, np.integer):
        raise ValueError(f'{caller} needs integer keys (K,) for cams of shape '
                         f'{cams.shape}, got {keys.dtype} keys of shape '
                         f'{keys.shape}')
    if len(keys) and (keys.min() < 0 or keys.max() >= UNSURE - 1):
        raise ValueError(f'{caller} keys must be class indices in [0, '
                         f'{UNSURE - 1}), got {keys.tolist()}')
    if len(cams) and cams.max() > 1:
        raise ValueError(f'{caller} needs cams normalised to at most 1, got a '
                         f'maximum of {cams.max()}')


def _label_values(keys: np.ndarray) -> np.ndarray:
    """(K + 1,) uint8 label value of each channel of a background-first
    score map: 0, then keys + 1."""
    return np.concatenate([[0], keys + 1]).astype(np.uint8)


class _RelationLabelRefiner(metaclass=ABCMeta):
    """Base of the relation-label refiners: a CRF with the unary the
    subclass needs (``crf_unary``) and the checked call on one image.

    Args:
        crf (dict | DenseCRF): The CRF or its config.
    """

    crf_unary: str

    def __init__(self, crf: dict | DenseCRF) -> None:
        self.crf = REFINERS.build(crf) if isinstance(crf, dict) else crf
        if self.crf.params['unary'] != self.crf_unary:
            raise ValueError(
                f'{type(self).__name__} needs a CRF with a '
                f'{_UNARY_NAMES[self.crf_unary]} unary, got {self.crf!r}')

    def __call__(self, image: np.ndarray, keys: np.ndarray,
                 cams: np.ndarray) -> np.ndarray:
        """Relation label map of one image.

        Args:
            image (np.ndarray): (H, W, 3) RGB uint8 original image.
            keys (np.ndarray): (K,) int64 foreground class indices.
            cams (np.ndarray): (K, H, W) max-normalised CAMs of ``keys``.

        Returns:
            np.ndarray: (H, W) uint8, 0 = background, c + 1 = class c,
            255 = unsure.
        """
        check_cam_inputs(image, keys, cams, type(self).__name__)
        return self._relation_label(image, keys, cams)

    @abstractmethod
    def _relation_label(self, image: np.ndarray, keys: np.ndarray,
                        cams: np.ndarray) -> np.ndarray:
        """:meth:`__call__` on checked inputs."""


@REFINERS.register_module()
class ThresholdRelationLabel(_RelationLabelRefiner):
    """Relation labels by two constant background thresholds (IRN).

    For a threshold t, the label map arg-max([t, cams]) is refined by the
    label CRF; ``fg`` uses ``fg_thresh`` and ``bg`` ``bg_thresh``. The result
    is ``fg`` where ``fg`` is foreground, 0 where both are background and
    255 elsewhere. Without keys every pixel is background. Scores are
    compared in at least float32 (float16 CAMs are promoted).

    The CRF runs on the K + 1 labels of the image unless its preset fixes the
    label count (e.g. 21); then it runs on class ids (0, keys + 1).

    Args:
        fg_thresh (float): Background score of the foreground pass.
            Defaults to 0.30 (IRN, BECO VOC; BECO COCO 0.35).
        bg_thresh (float): Background score of the background pass, at most
            ``fg_thresh``. Defaults to 0.05 (IRN, BECO VOC; KTSE, SSC,
            BECO COCO 0.10).
        crf (dict | DenseCRF): A label-unary CRF or its config.
            Defaults to ``dict(type='DenseCRF', preset='irn_label')``.
    """

    crf_unary = 'label'

    def __init__(self,
                 fg_thresh: float = 0.30,
                 bg_thresh: float = 0.05,
                 crf: dict | DenseCRF = dict(
                     type='DenseCRF', preset='irn_label')) -> None:
        if not 0 <= bg_thresh <= fg_thresh <= 1:
            raise ValueError(
                f'ThresholdRelationLabel needs 0 <= bg_thresh <= fg_thresh '
                f'<= 1, got bg_thresh={bg_thresh!r}, fg_thresh={fg_thresh!r}')
        super().__init__(crf)
        self.fg_thresh = fg_thresh
        self.bg_thresh = bg_thresh

    def _relation_label(self, image: np.ndarray, keys: np.ndarray,
                        cams: np.ndarray) -> np.ndarray:
        fg = self.refined_labels(image, keys, cams, self.fg_thresh)
        bg = self.refined_labels(image, keys, cams, self.bg_thresh)
        label = np.where(fg == 0, UNSURE, fg).astype(np.uint8)
        label[(fg == 0) & (bg == 0)] = 0
        return label

    def refined_labels(self, image: np.ndarray, keys: np.ndarray,
                       cams: np.ndarray, thresh: float) -> np.ndarray:
        """CRF-refined arg-max of [thresh, cams]: (H, W) uint8 with values
        0 and keys + 1."""
        values = _label_values(keys)
        dtype = np.promote_types(cams.dtype, np.float32)
        background = np.full((1, *cams.shape[1:]), thresh, dtype)
        channels = np.concatenate([background,
                                   cams.astype(dtype)]).argmax(axis=0)
        if self.crf.params['num_labels'] is None:
            return values[self.crf(image, channels, num_labels=len(values))]
        return self.crf(image, values[channels]).astype(np.uint8)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fg_thresh={self.fg_thresh}, '
                f'bg_thresh={self.bg_thresh}, crf={self.crf!r})')


@REFINERS.register_module()
class AlphaRelationLabel(_RelationLabelRefiner):
    """Relation labels from la/ha CRF probabilities (PSA, SEAM, AEFT).

    ``la`` and ``ha`` are :func:`crf_cam_with_alpha` of the CAMs with
    ``alphas[0]`` and ``alphas[1]``. The label is the class of the ``la``
    arg-max, 255 where that is the background, and 0 where the ``ha`` arg-max
    is the background (the PSA ``VOC12AffDataset`` rules, applied at full
    resolution).

    Args:
        alphas (Sequence[float]): (low, high) background exponents,
            0 < low <= high. Defaults to (4, 24) (SEAM, PPC; PSA 4 / 32,
            AEFT 2 / 21).
        crf (dict | DenseCRF): A probability-unary CRF or its config.
            Defaults to ``dict(type='DenseCRF', preset='psa_prob')``.
    """

    crf_unary = 'prob'

    def __init__(self,
                 alphas: Sequence[float] = (4, 24),
                 crf: dict | DenseCRF = dict(
                     type='DenseCRF', preset='psa_prob')) -> None:
        if len(alphas) != 2 or not 0 < alphas[0] <= alphas[1]:
            raise ValueError(f'AlphaRelationLabel alphas must be (low, high) '
                             f'with 0 < low <= high, got {alphas!r}')
        super().__init__(crf)
        self.alphas = tuple(alphas)

    def _relation_label(self, image: np.ndarray, keys: np.ndarray,
                        cams: np.ndarray) -> np.ndarray:
        low, high = (
            crf_cam_with_alpha(image, cams, alpha, self.crf).argmax(axis=0)
            for alpha in self.alphas)
        label = _label_values(keys)[low]
        label[low == 0] = UNSURE
        label[high == 0] = 0
        return label

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(alphas={self.alphas}, '
                f'crf={self.crf!r})')
