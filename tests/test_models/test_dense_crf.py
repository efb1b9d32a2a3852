"""DenseCRF presets and crf_cam_with_alpha."""
import sys

import numpy as np
import pytest

from wsstool.models.refiners import DenseCRF, crf_cam_with_alpha
from wsstool.models.refiners.dense_crf import label_unary, prob_unary
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


def test_missing_pydensecrf_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    with pytest.raises(ImportError, match='pip install pydensecrf2'):
        crf_cam_with_alpha(_edge_image(), _blurred_cam(), 4)
