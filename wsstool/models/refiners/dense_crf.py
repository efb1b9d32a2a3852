"""Fully connected CRF (pydensecrf) with the presets of the reference code.

* ``psa_prob``: unary -log(clip(prob, 1e-5, 1)) of the given scores;
  Gaussian sxy 3, compat 3; bilateral sxy 80, srgb 13, compat 10;
  10 iterations.
* ``irn_label``: unary from a label map with ``gt_prob`` 0.7; Gaussian sxy 3,
  compat 3; bilateral sxy 50, srgb 5, compat 10; 10 iterations.

``psa_prob`` is PSA's ``crf_inference`` (also SEAM, AEFT and KTSE); the
scores are not renormalised. ``irn_label`` is IRN's ``crf_inference_label``
(inter-pixel-relation labels; KTSE, SSC and BECO ``irn/``): every label gets
``-log(gt_prob)`` at its pixels and ``-log((1 - gt_prob) / (n - 1))``
elsewhere, label 0 included. The image is the original RGB uint8 image.

The CRF runs on the CPU; pydensecrf is imported on first use (pip package
``pydensecrf2``).
"""
import numpy as np

from wsstool.registry import REFINERS

PROB_CLIP = 1e-5
CRF_PRESETS = {
    'psa_prob':
    dict(
        unary='prob',
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=80,
        bilateral_srgb=13,
        bilateral_compat=10,
        num_iter=10),
    'irn_label':
    dict(
        unary='label',
        gt_prob=0.7,
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=50,
        bilateral_srgb=5,
        bilateral_compat=10,
        num_iter=10),
}


def _densecrf():
    """The ``pydensecrf.densecrf`` extension module."""
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError as e:
        raise ImportError(
            'DenseCRF needs pydensecrf: `pip install pydensecrf2` (the '
            'original pydensecrf package does not build with Cython 3)'
        ) from e
    return densecrf


def prob_unary(prob: np.ndarray) -> np.ndarray:
    """Unary energy of (N, H, W) scores: -log(clip(prob, 1e-5, 1)),
    float32 (N, H * W)."""
    clipped = np.clip(prob, PROB_CLIP, 1.0)
    return -np.log(clipped).reshape(len(prob), -1).astype(np.float32)


def label_unary(label: np.ndarray, num_labels: int,
                gt_prob: float) -> np.ndarray:
    """Unary energy of an (H, W) label map with values in [0, num_labels):
    -log(gt_prob) for the pixel's label, -log((1 - gt_prob) /
    (num_labels - 1)) for the others; float32 (num_labels, H * W)."""
    flat = label.reshape(-1)
    unary = np.full((num_labels, flat.size),
                    -np.log((1 - gt_prob) / (num_labels - 1)), np.float32)
    unary[flat, np.arange(flat.size)] = -np.log(gt_prob)
    return unary


@REFINERS.register_module()
class DenseCRF:
    """Fully connected CRF with a preset of :data:`CRF_PRESETS`.

    Args:
        preset (str): ``'psa_prob'`` or ``'irn_label'``. Defaults to
            'psa_prob'.
        **overrides: Replace preset values: ``gaussian_sxy``,
            ``gaussian_compat``, ``bilateral_sxy``, ``bilateral_srgb``,
            ``bilateral_compat``, ``num_iter`` and, for ``'irn_label'``,
            ``gt_prob``.

    Examples:
        >>> crf = DenseCRF('psa_prob')
        >>> marginals = crf(image_rgb, probs)  # (N, H, W) float32
        >>> crf = DenseCRF('irn_label')
        >>> refined = crf(image_rgb, label_map, num_labels=3)  # (H, W)
    """

    def __init__(self, preset: str = 'psa_prob', **overrides) -> None:
        if preset not in CRF_PRESETS:
            raise ValueError(f'Unknown DenseCRF preset {preset!r}; expected '
                             f'one of {sorted(CRF_PRESETS)}')
        known = set(CRF_PRESETS[preset]) - {'unary'}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(
                f'Unknown options {sorted(unknown)} for DenseCRF preset '
                f'{preset!r}; expected some of {sorted(known)}')
        params = {**CRF_PRESETS[preset], **overrides}
        if params['unary'] == 'label' and not 0 < params['gt_prob'] < 1:
            raise ValueError('DenseCRF gt_prob must be in (0, 1), got '
                             f'{params["gt_prob"]!r}')
        self.preset = preset
        self.params = params

    def __call__(self,
                 image: np.ndarray,
                 scores: np.ndarray,
                 num_labels: int | None = None) -> np.ndarray:
        """Refine scores (``unary='prob'``) or a label map (``'label'``).

        Args:
            image (np.ndarray): (H, W, 3) RGB uint8 image.
            scores (np.ndarray): ``'prob'``: (N, H, W) scores in [0, 1].
                ``'label'``: (H, W) integer label map in [0, num_labels).
            num_labels (int, optional): Labels of a label map; defaults to
                its maximum + 1. Unused for ``'prob'``.

        Returns:
            np.ndarray: ``'prob'``: (N, H, W) float32 marginals.
            ``'label'``: (H, W) int64 arg-max of the marginals (all 0 for
            a single label).
        """
        image = self._check_image(image)
        if self.params['unary'] == 'prob':
            if scores.ndim != 3 or scores.shape[1:] != image.shape[:2]:
                raise ValueError(
                    f'DenseCRF(unary="prob") got scores of shape '
                    f'{scores.shape} for an image of shape {image.shape}; '
                    'expected (N, H, W)')
            return self.inference(image, prob_unary(scores))
        if scores.shape != image.shape[:2] or not np.issubdtype(
                scores.dtype, np.integer):
            raise ValueError(
                f'DenseCRF(unary="label") got a {scores.dtype} label map of '
                f'shape {scores.shape} for an image of shape {image.shape}; '
                'expected integers (H, W)')
        if num_labels is None:
            num_labels = int(scores.max()) + 1
        if scores.min() < 0 or scores.max() >= num_labels:
            raise ValueError(
                f'DenseCRF label map values span [{scores.min()}, '
                f'{scores.max()}]; expected [0, num_labels = {num_labels})')
        if num_labels == 1:
            return np.zeros(scores.shape, np.int64)
        unary = label_unary(scores, num_labels, self.params['gt_prob'])
        return self.inference(image, unary).argmax(axis=0)

    def inference(self, image: np.ndarray, unary: np.ndarray) -> np.ndarray:
        """Mean-field marginals (N, H, W) float32 of an (N, H * W) unary
        energy on an (H, W, 3) RGB uint8 image."""
        height, width = image.shape[:2]
        params = self.params
        crf = _densecrf().DenseCRF2D(width, height, len(unary))
        crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        crf.addPairwiseGaussian(
            sxy=params['gaussian_sxy'], compat=params['gaussian_compat'])
        crf.addPairwiseBilateral(
            sxy=params['bilateral_sxy'],
            srgb=params['bilateral_srgb'],
            rgbim=image,
            compat=params['bilateral_compat'])
        marginals = crf.inference(params['num_iter'])
        return np.asarray(marginals, np.float32).reshape(
            len(unary), height, width)

    @staticmethod
    def _check_image(image: np.ndarray) -> np.ndarray:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f'DenseCRF needs an (H, W, 3) RGB uint8 image, got '
                f'{image.dtype} of shape {image.shape}')
        return np.ascontiguousarray(image)

    def __repr__(self) -> str:
        options = ', '.join(f'{k}={v!r}' for k, v in self.params.items())
        return f'{type(self).__name__}(preset={self.preset!r}, {options})'


def crf_cam_with_alpha(image: np.ndarray,
                       cams: np.ndarray,
                       alpha: float,
                       crf: DenseCRF | None = None) -> np.ndarray:
    """CRF probabilities of CAMs with a ``(1 - max)^alpha`` background
    (PSA/SEAM/AEFT/KTSE ``_crf_with_alpha``, the la/ha maps of AffinityNet).

    Args:
        image (np.ndarray): (H, W, 3) RGB uint8 original image.
        cams (np.ndarray): (K, H, W) CAMs of the present classes, normalised
            to at most 1 (``max`` normalisation).
        alpha (float): Background exponent; small values give a strong
            background, large ones a weak background.
        crf (DenseCRF, optional): The CRF. Defaults to
            ``DenseCRF('psa_prob')``.

    Returns:
        np.ndarray: (K + 1, H, W) float32 marginals, background first, then
        the classes in the order of ``cams``.
    """
    if cams.ndim != 3 or cams.shape[1:] != image.shape[:2]:
        raise ValueError(f'crf_cam_with_alpha got cams of shape {cams.shape} '
                         f'for an image of shape {image.shape}; expected '
                         '(K, H, W)')
    if len(cams) and cams.max() > 1:
        raise ValueError(
            f'crf_cam_with_alpha needs CAMs normalised to at most 1, got a '
            f'maximum of {cams.max()}')
    crf = crf or DenseCRF('psa_prob')
    if crf.params['unary'] != 'prob':
        raise ValueError(f'crf_cam_with_alpha needs a CRF with a probability '
                         f'unary, got {crf!r}')
    fg_max = cams.max(axis=0) if len(cams) else np.zeros(cams.shape[1:])
    background = np.power(1 - fg_max, alpha)[None]
    scores = np.concatenate([background, cams]).astype(np.float32)
    return crf(image, scores)
