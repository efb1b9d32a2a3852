"""Fully connected CRF (pydensecrf) with the presets of the reference code.

===================  =====  ============  ================  =====  ==========
preset               unary  Gaussian      bilateral         iters  reference
                            sxy, compat   sxy, srgb, compat
===================  =====  ============  ================  =====  ==========
``psa_prob``         prob   3, 3          80, 13, 10        10     PSA, SEAM,
                                                                   AEFT, KTSE
``irn_label``        label  3, 3          50, 5, 10         10     IRN (IR
                                                                   labels)
``ppc_aff_prepare``  label  3, 3          80, 13, 10        10     PPC la/ha
``deeplab_beco``     prob   1, 3          67, 3, 4          10     BECO test
``yude_seg``         prob   3, 3          32, 13, 10        1      wseg seg.
===================  =====  ============  ================  =====  ==========

* ``prob`` unary: -log(clip(prob, 1e-5, 1)) of the given scores, which are
  not renormalised (PSA's ``crf_inference``; for ``deeplab_beco`` and
  ``yude_seg`` the scores are the softmax of segmentation logits).
* ``label`` unary (gt_prob 0.7): every label gets -log(gt_prob) at its
  pixels and -log((1 - gt_prob) / (n - 1)) elsewhere, label 0 included.
  n is the label count given with the call (IRN: present classes + 1) unless
  the preset fixes it (``ppc_aff_prepare``: 21, the labels are class ids).

Both pairwise terms use ``kernel`` and ``normalization`` (pydensecrf's
defaults ``'diag'`` and ``'symmetric'`` for every preset; ``ppc_aff_prepare``
names them explicitly as its reference does). The image is always the
original RGB uint8 image.

:func:`crf_present_classes` runs a probability CRF on the channels of the
classes present in an image only: absent classes hold near-zero scores that
barely move the others' marginals, and with 21 classes it saves about 3x the
time.

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
    'ppc_aff_prepare':
    dict(
        unary='label',
        gt_prob=0.7,
        num_labels=21,
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=80,
        bilateral_srgb=13,
        bilateral_compat=10,
        num_iter=10,
        kernel='diag',
        normalization='symmetric'),
    'deeplab_beco':
    dict(
        unary='prob',
        gaussian_sxy=1,
        gaussian_compat=3,
        bilateral_sxy=67,
        bilateral_srgb=3,
        bilateral_compat=4,
        num_iter=10),
    'yude_seg':
    dict(
        unary='prob',
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=32,
        bilateral_srgb=13,
        bilateral_compat=10,
        num_iter=1),
}
# options every preset has (pydensecrf's defaults) and those of label unaries
# (num_labels None: given with each call)
PAIRWISE_DEFAULTS = dict(kernel='diag', normalization='symmetric')
LABEL_DEFAULTS = dict(num_labels=None)
# option values -> pydensecrf constants
KERNELS = {
    'const': 'CONST_KERNEL',
    'diag': 'DIAG_KERNEL',
    'full': 'FULL_KERNEL'
}
NORMALIZATIONS = {
    'none': 'NO_NORMALIZATION',
    'before': 'NORMALIZE_BEFORE',
    'after': 'NORMALIZE_AFTER',
    'symmetric': 'NORMALIZE_SYMMETRIC'
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
        preset (str): A key of :data:`CRF_PRESETS`. Defaults to 'psa_prob'.
        **overrides: Replace preset values: ``gaussian_sxy``,
            ``gaussian_compat``, ``bilateral_sxy``, ``bilateral_srgb``,
            ``bilateral_compat``, ``num_iter``, ``kernel`` (``'const'``,
            ``'diag'``, ``'full'``), ``normalization`` (``'none'``,
            ``'before'``, ``'after'``, ``'symmetric'``) and, for label
            unaries, ``gt_prob`` and ``num_labels`` (a fixed label count;
            None: given with each call).

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
        defaults = dict(PAIRWISE_DEFAULTS)
        if CRF_PRESETS[preset]['unary'] == 'label':
            defaults.update(LABEL_DEFAULTS)
        params = {**defaults, **CRF_PRESETS[preset]}
        known = set(params) - {'unary'}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(
                f'Unknown options {sorted(unknown)} for DenseCRF preset '
                f'{preset!r}; expected some of {sorted(known)}')
        params.update(overrides)
        self._check_params(params)
        self.preset = preset
        self.params = params

    @staticmethod
    def _check_params(params: dict) -> None:
        if params['kernel'] not in KERNELS:
            raise ValueError(f'DenseCRF kernel must be one of '
                             f'{sorted(KERNELS)}, got {params["kernel"]!r}')
        if params['normalization'] not in NORMALIZATIONS:
            raise ValueError(
                f'DenseCRF normalization must be one of '
                f'{sorted(NORMALIZATIONS)}, got {params["normalization"]!r}')
        if params['unary'] != 'label':
            return
        if not 0 < params['gt_prob'] < 1:
            raise ValueError('DenseCRF gt_prob must be in (0, 1), got '
                             f'{params["gt_prob"]!r}')
        num_labels = params['num_labels']
        if num_labels is not None and (not isinstance(num_labels, int)
                                       or num_labels < 2):
            raise ValueError('DenseCRF num_labels must be None or an int '
                             f'>= 2, got {num_labels!r}')

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
                the preset's fixed count, else to the map's maximum + 1.
                Unused for ``'prob'``.

        Returns:
            np.ndarray: ``'prob'``: (N, H, W) float32 marginals.
            ``'label'``: (H, W) int64 arg-max of the marginals (all 0 for
            a single label).
        """
        if self.params['unary'] == 'label':
            return self.label_marginals(image, scores,
                                        num_labels).argmax(axis=0)
        image = self._check_image(image)
        if scores.ndim != 3 or scores.shape[1:] != image.shape[:2]:
            raise ValueError(
                f'DenseCRF(unary="prob") got scores of shape {scores.shape} '
                f'for an image of shape {image.shape}; expected (N, H, W)')
        return self.inference(image, prob_unary(scores))

    def label_marginals(self,
                        image: np.ndarray,
                        label: np.ndarray,
                        num_labels: int | None = None) -> np.ndarray:
        """Marginals of a label-unary CRF (PPC stores them as la/ha maps).

        Args:
            image (np.ndarray): (H, W, 3) RGB uint8 image.
            label (np.ndarray): (H, W) integer label map in
                [0, num_labels).
            num_labels (int, optional): As in :meth:`__call__`.

        Returns:
            np.ndarray: (num_labels, H, W) float32 marginals (all 1 for a
            single label).
        """
        if self.params['unary'] != 'label':
            raise ValueError(f'label_marginals needs a label unary, got '
                             f'{self!r}')
        image = self._check_image(image)
        if label.shape != image.shape[:2] or not np.issubdtype(
                label.dtype, np.integer):
            raise ValueError(
                f'DenseCRF(unary="label") got a {label.dtype} label map of '
                f'shape {label.shape} for an image of shape {image.shape}; '
                'expected integers (H, W)')
        fixed = self.params['num_labels']
        if fixed is not None and num_labels not in (None, fixed):
            raise ValueError(f'DenseCRF preset {self.preset!r} has '
                             f'num_labels = {fixed}, got {num_labels}')
        if num_labels is None:
            num_labels = int(label.max()) + 1 if fixed is None else fixed
        if label.min() < 0 or label.max() >= num_labels:
            raise ValueError(
                f'DenseCRF label map values span [{label.min()}, '
                f'{label.max()}]; expected [0, num_labels = {num_labels})')
        if num_labels == 1:
            return np.ones((1, *label.shape), np.float32)
        unary = label_unary(label, num_labels, self.params['gt_prob'])
        return self.inference(image, unary)

    def inference(self, image: np.ndarray, unary: np.ndarray) -> np.ndarray:
        """Mean-field marginals (N, H, W) float32 of an (N, H * W) unary
        energy on an (H, W, 3) RGB uint8 image."""
        height, width = image.shape[:2]
        params = self.params
        densecrf = _densecrf()
        pairwise = dict(
            kernel=getattr(densecrf, KERNELS[params['kernel']]),
            normalization=getattr(densecrf,
                                  NORMALIZATIONS[params['normalization']]))
        crf = densecrf.DenseCRF2D(width, height, len(unary))
        crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        crf.addPairwiseGaussian(
            sxy=params['gaussian_sxy'],
            compat=params['gaussian_compat'],
            **pairwise)
        crf.addPairwiseBilateral(
            sxy=params['bilateral_sxy'],
            srgb=params['bilateral_srgb'],
            rgbim=image,
            compat=params['bilateral_compat'],
            **pairwise)
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


def _check_prob_crf(crf: DenseCRF, caller: str) -> None:
    if crf.params['unary'] != 'prob':
        raise ValueError(f'{caller} needs a CRF with a probability unary, '
                         f'got {crf!r}')


def crf_present_classes(crf: DenseCRF, image: np.ndarray, probs: np.ndarray,
                        present: np.ndarray) -> np.ndarray:
    """Run a probability CRF on the channels of the present classes only.

    The CRF of the sub-array ``probs[present]`` (about 3x faster than all 21
    VOC channels); the marginals of absent classes are 0.

    Args:
        crf (DenseCRF): A CRF with a probability unary.
        image (np.ndarray): (H, W, 3) RGB uint8 image.
        probs (np.ndarray): (C + 1, H, W) scores of all classes.
        present (np.ndarray): (C + 1,) bool, the channels to refine; at
            least one.

    Returns:
        np.ndarray: (C + 1, H, W) float32 marginals, 0 on absent channels.
    """
    _check_prob_crf(crf, 'crf_present_classes')
    present = np.asarray(present)
    if probs.ndim != 3 or present.dtype != bool or present.shape != (
            len(probs), ):
        raise ValueError(
            f'crf_present_classes needs probs (C + 1, H, W) and present '
            f'(C + 1,) bool, got {probs.shape} and {present.dtype} '
            f'{present.shape}')
    if not present.any():
        raise ValueError('crf_present_classes needs at least one present '
                         'class, got none')
    marginals = np.zeros(probs.shape, np.float32)
    marginals[present] = crf(image, probs[present])
    return marginals


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
    _check_prob_crf(crf, 'crf_cam_with_alpha')
    fg_max = cams.max(axis=0) if len(cams) else np.zeros(cams.shape[1:])
    background = np.power(1 - fg_max, alpha)[None]
    scores = np.concatenate([background, cams]).astype(np.float32)
    return crf(image, scores)
