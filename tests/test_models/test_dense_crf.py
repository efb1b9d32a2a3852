"""DenseCRF presets, crf_present_classes and crf_cam_with_alpha."""
import sys

import numpy as np
import pytest

from wsstool.models.refiners import DenseCRF, crf_cam_with_alpha
from wsstool.models.refiners.dense_crf import (CRF_PRESETS,
                                               crf_present_classes,
                                               label_unary, prob_unary)
from wsstool.registry import REFINERS

HEIGHT, WIDTH, EDGE = 24, 32, 16


def _edge_image() -> np.ndarray:
    """Black left half, white right half (RGB uint8)."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, EDGE:] = 255
    return image


def _blurred_cam() -> np.ndarray:
    """(1, H, W) ramp from 0 at x = 4 to 1 at x = 20: 0.5 at x = 12, four
    pixels left of the image edge."""
    ramp = np.clip((np.arange(WIDTH) - 4) / 16, 0, 1)
    return np.tile(ramp, (1, HEIGHT, 1)).astype(np.float32)


def test_prob_unary_by_hand():
    prob = np.array([[[0.16, 0.0]], [[0.6, 2e-6]], [[0.2, 1.0]]])
    np.testing.assert_allclose(
        prob_unary(prob), -np.log([[0.16, 1e-5], [0.6, 1e-5], [0.2, 1.0]]),
        rtol=1e-6)


def test_background_of_alpha_by_hand():
    cams = np.stack([np.full((2, 3), 0.6), np.full((2, 3), 0.2)])
    cams[:, 1, 2] = 0.0, 1.0
    # (1 - 0.6)^2 = 0.16; (1 - 1)^2 = 0, clipped to 1e-5 in the unary
    scores = {(0, 0): [0.16, 0.6, 0.2], (1, 2): [1e-5, 1e-5, 1.0]}
    # no mean-field step: the marginals are the normalised unary scores
    prob = crf_cam_with_alpha(np.zeros((2, 3, 3), np.uint8),
                              cams.astype(np.float32), 2,
                              DenseCRF('psa_prob', num_iter=0))
    for (y, x), score in scores.items():
        np.testing.assert_allclose(prob[:, y, x],
                                   np.array(score) / sum(score), rtol=1e-5)


def test_probabilities_shape_and_sum():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    cams = rng.random((3, HEIGHT, WIDTH)).astype(np.float32)
    prob = crf_cam_with_alpha(image, cams, 4)
    assert prob.shape == (4, HEIGHT, WIDTH) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(0), 1, atol=1e-5)


def test_edge_moves_blurred_boundary_onto_it():
    cam = _blurred_cam()
    # alpha 1: background 1 - cam, the boundary without CRF is at cam = 0.5
    before = np.argmax(np.concatenate([1 - cam, cam]), axis=0)
    assert before[0, 10] == 0 and before[0, 13] == 1
    after = crf_cam_with_alpha(_edge_image(), cam, 1).argmax(0)
    expected = np.zeros((HEIGHT, WIDTH), np.int64)
    expected[:, EDGE:] = 1
    np.testing.assert_array_equal(after, expected)


def test_large_alpha_weakens_background():
    cam = _blurred_cam()
    strong = crf_cam_with_alpha(_edge_image(), cam, 1)
    weak = crf_cam_with_alpha(_edge_image(), cam, 8)
    assert (weak[0] <= strong[0] + 1e-6).all()
    assert weak.argmax(0)[0, 6] == 1 and strong.argmax(0)[0, 6] == 0


def test_no_class_is_all_background():
    prob = crf_cam_with_alpha(_edge_image(),
                              np.zeros((0, HEIGHT, WIDTH), np.float32), 4)
    np.testing.assert_allclose(prob, np.ones((1, HEIGHT, WIDTH)))


def test_irn_label_unary_and_edge():
    label = np.array([[0, 2], [1, 0]])
    unary = label_unary(label, 3, 0.7)
    on, off = -np.log(0.7), -np.log(0.15)
    np.testing.assert_allclose(
        unary, [[on, off, off, on], [off, off, on, off], [off, on, off, off]],
        rtol=1e-6)
    crf = REFINERS.build(dict(type='DenseCRF', preset='irn_label'))
    labels = np.zeros((HEIGHT, WIDTH), np.int64)
    labels[:, 11:] = 1  # five pixels left of the edge
    refined = crf(_edge_image(), labels)
    assert refined.dtype == np.int64
    np.testing.assert_array_equal(refined, (np.arange(WIDTH) >= EDGE)[None]
                                  .repeat(HEIGHT, 0))
    np.testing.assert_array_equal(
        crf(_edge_image(), np.zeros((HEIGHT, WIDTH), np.uint8)), 0)


def test_overrides_change_the_result():
    crf = DenseCRF('irn_label', bilateral_compat=0, gaussian_compat=0)
    assert crf.params['bilateral_sxy'] == 50 and crf.params['gt_prob'] == 0.7
    labels = np.zeros((HEIGHT, WIDTH), np.int64)
    labels[:, 11:] = 1
    # without pairwise terms the labels stay where they are
    np.testing.assert_array_equal(crf(_edge_image(), labels), labels)


@pytest.mark.parametrize('kwargs,match', [
    (dict(preset='nope'), 'preset'),
    (dict(preset='psa_prob', gt_prob=0.7), 'gt_prob'),
    (dict(preset='irn_label', gt_prob=1.0), 'gt_prob'),
    (dict(preset='psa_prob', num_labels=21), 'num_labels'),
    (dict(preset='irn_label', num_labels=1), 'num_labels'),
    (dict(preset='irn_label', kernel='diagonal'), 'kernel'),
    (dict(preset='psa_prob', normalization='sym'), 'normalization'),
])
def test_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenseCRF(**kwargs)


def test_rejects_bad_inputs():
    crf = DenseCRF('psa_prob')
    with pytest.raises(ValueError, match='uint8'):
        crf(_edge_image().astype(np.float32), np.ones((2, HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match=r'\(N, H, W\)'):
        crf(_edge_image(), np.ones((2, HEIGHT, WIDTH - 1)))
    with pytest.raises(ValueError, match='at most 1'):
        crf_cam_with_alpha(_edge_image(), _blurred_cam() * 2, 4)
    with pytest.raises(ValueError, match='probability unary'):
        crf_cam_with_alpha(_edge_image(), _blurred_cam(), 4,
                           DenseCRF('irn_label'))
    with pytest.raises(ValueError, match='num_labels'):
        DenseCRF('irn_label')(_edge_image(), np.full((HEIGHT, WIDTH), 3),
                              num_labels=3)
    with pytest.raises(ValueError, match='num_labels = 21, got 3'):
        DenseCRF('ppc_aff_prepare')(_edge_image(),
                                    np.zeros((HEIGHT, WIDTH), np.int64),
                                    num_labels=3)
    with pytest.raises(ValueError, match='label unary'):
        crf.label_marginals(_edge_image(), np.zeros((HEIGHT, WIDTH), int))
    probs = np.ones((3, HEIGHT, WIDTH), np.float32)
    with pytest.raises(ValueError, match=r'present \(C \+ 1,\) bool'):
        crf_present_classes(crf, _edge_image(), probs, [True, False])
    with pytest.raises(ValueError, match='none'):
        crf_present_classes(crf, _edge_image(), probs, np.zeros(3, bool))
    with pytest.raises(ValueError, match='probability unary'):
        crf_present_classes(DenseCRF('irn_label'), _edge_image(), probs,
                            np.ones(3, bool))


def test_missing_pydensecrf_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    with pytest.raises(ImportError, match='pip install pydensecrf2'):
        crf_cam_with_alpha(_edge_image(), _blurred_cam(), 4)


def _direct_marginals(image: np.ndarray, unary: np.ndarray, gaussian: tuple,
                      bilateral: tuple, num_iter: int) -> np.ndarray:
    """pydensecrf called directly with (sxy, compat) and (sxy, srgb, compat),
    DIAG_KERNEL and NORMALIZE_SYMMETRIC passed explicitly."""
    import pydensecrf.densecrf as dcrf
    height, width = image.shape[:2]
    crf = dcrf.DenseCRF2D(width, height, len(unary))
    crf.setUnaryEnergy(np.ascontiguousarray(unary, np.float32))
    options = dict(kernel=dcrf.DIAG_KERNEL,
                   normalization=dcrf.NORMALIZE_SYMMETRIC)
    crf.addPairwiseGaussian(sxy=gaussian[0], compat=gaussian[1], **options)
    crf.addPairwiseBilateral(sxy=bilateral[0], srgb=bilateral[1],
                             rgbim=image, compat=bilateral[2], **options)
    return np.array(crf.inference(num_iter)).reshape(-1, height, width)


# the values of the reference code, written out independently of CRF_PRESETS
REFERENCE_SETTINGS = {
    'psa_prob': ((3, 3), (80, 13, 10), 10),
    'irn_label': ((3, 3), (50, 5, 10), 10),
    'ppc_aff_prepare': ((3, 3), (80, 13, 10), 10),
    'deeplab_beco': ((1, 3), (67, 3, 4), 10),
    'yude_seg': ((3, 3), (32, 13, 10), 1),
}


def test_every_preset_is_checked():
    assert sorted(REFERENCE_SETTINGS) == sorted(CRF_PRESETS)


@pytest.mark.parametrize('preset', sorted(REFERENCE_SETTINGS))
def test_preset_parameters_reach_pydensecrf(preset):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    crf = DenseCRF(preset)
    if crf.params['unary'] == 'prob':
        probs = rng.dirichlet(np.ones(4), (9, 13)).transpose(2, 0, 1)
        probs = probs.astype(np.float32)
        ours = crf(image, probs)
        unary = -np.log(np.clip(probs, 1e-5, 1)).reshape(4, -1)
    else:
        num_labels = 21 if preset == 'ppc_aff_prepare' else 4
        label = rng.integers(0, num_labels, (9, 13))
        ours = crf.label_marginals(image, label, num_labels)
        off = -np.log(0.3 / (num_labels - 1))
        unary = np.where(
            np.arange(num_labels)[:, None] == label.reshape(1, -1),
            -np.log(0.7), off)
        np.testing.assert_array_equal(
            crf(image, label, num_labels), ours.argmax(0))
    direct = _direct_marginals(image, unary, *REFERENCE_SETTINGS[preset])
    assert ours.shape == direct.shape
    np.testing.assert_array_equal(ours, direct)


def test_ppc_preset_fixes_21_labels_and_matches_explicit_features():
    """PPC adds its pairwise terms as explicit (row, col[, r, g, b])
    features; the 2-D wrapper's (x, y) features agree up to lattice
    rounding."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import (create_pairwise_bilateral,
                                  create_pairwise_gaussian)
    rng = np.random.default_rng(2)
    image = np.repeat(np.repeat(rng.integers(0, 256, (3, 4, 3)), 4, 0), 4,
                      1).astype(np.uint8)
    label = np.repeat(np.repeat(rng.integers(0, 21, (3, 4)), 4, 0), 4, 1)
    ours = DenseCRF('ppc_aff_prepare').label_marginals(image, label)
    assert ours.shape == (21, 12, 16)
    crf = dcrf.DenseCRF2D(16, 12, 21)
    crf.setUnaryEnergy(label_unary(label, 21, 0.7))
    crf.addPairwiseEnergy(create_pairwise_gaussian((3, 3), (12, 16)),
                          compat=3)
    crf.addPairwiseEnergy(
        create_pairwise_bilateral((80, 80), (13, 13, 13), image, chdim=2),
        compat=10)
    reference = np.array(crf.inference(10)).reshape(21, 12, 16)
    np.testing.assert_allclose(ours, reference, atol=2e-2)
    np.testing.assert_array_equal(ours.argmax(0), reference.argmax(0))


class _RecordingCRF2D:
    """Stands in for pydensecrf's DenseCRF2D and records the pairwise
    options."""
    calls = []

    def __init__(self, width, height, num_labels):
        self.shape = num_labels, height * width

    def setUnaryEnergy(self, unary):
        pass

    def addPairwiseGaussian(self, **options):
        self.calls.append(('gaussian', options['kernel'],
                           options['normalization']))

    def addPairwiseBilateral(self, **options):
        self.calls.append(('bilateral', options['kernel'],
                           options['normalization']))

    def inference(self, num_iter):
        return np.full(self.shape, 0.5, np.float32)


def test_kernel_and_normalization_options_reach_pydensecrf(monkeypatch):
    import pydensecrf.densecrf as dcrf
    monkeypatch.setattr(dcrf, 'DenseCRF2D', _RecordingCRF2D)
    monkeypatch.setattr(_RecordingCRF2D, 'calls', [])
    probs = np.full((2, HEIGHT, WIDTH), 0.5, np.float32)
    DenseCRF('psa_prob')(_edge_image(), probs)
    DenseCRF('psa_prob', kernel='full', normalization='before')(
        _edge_image(), probs)
    DenseCRF('ppc_aff_prepare', kernel='const', normalization='none')(
        _edge_image(), np.zeros((HEIGHT, WIDTH), np.int64))
    default = (dcrf.DIAG_KERNEL, dcrf.NORMALIZE_SYMMETRIC)
    full = (dcrf.FULL_KERNEL, dcrf.NORMALIZE_BEFORE)
    const = (dcrf.CONST_KERNEL, dcrf.NO_NORMALIZATION)
    assert _RecordingCRF2D.calls == [(term, *options)
                                     for options in (default, full, const)
                                     for term in ('gaussian', 'bilateral')]


def test_normalization_changes_the_marginals():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    probs = rng.dirichlet(np.ones(3), (9, 13)).transpose(2, 0, 1)
    default = DenseCRF('psa_prob')(image, probs)
    unnormalised = DenseCRF('psa_prob', normalization='none')(image, probs)
    assert np.abs(unnormalised - default).max() > 1e-2


def test_present_classes_equal_the_crf_of_the_sub_array():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    probs = rng.random((6, 9, 13)).astype(np.float32)
    present = np.array([True, False, True, False, False, True])
    crf = DenseCRF('deeplab_beco')
    marginals = crf_present_classes(crf, image, probs, present)
    assert marginals.shape == probs.shape and marginals.dtype == np.float32
    np.testing.assert_array_equal(marginals[~present], 0)
    np.testing.assert_array_equal(marginals[present],
                                  crf(image, probs[[0, 2, 5]]))
