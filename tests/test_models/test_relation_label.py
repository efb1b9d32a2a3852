"""ThresholdRelationLabel and AlphaRelationLabel."""
import numpy as np
import pytest

from wsstool.models.refiners.dense_crf import DenseCRF, crf_cam_with_alpha
from wsstool.models.refiners.relation_label import (AlphaRelationLabel,
                                                    ThresholdRelationLabel)
from wsstool.registry import REFINERS

KEYS = np.array([3, 7])


class IdentityCRF:
    """A CRF that returns its input unchanged and records the calls."""

    def __init__(self, unary: str, num_labels: int | None = None) -> None:
        self.params = dict(unary=unary, num_labels=num_labels)
        self.calls = []

    def __call__(self, image, scores, num_labels=None):
        self.calls.append((scores.copy(), num_labels))
        return scores


def _row(*pixels) -> np.ndarray:
    """(K, 1, N) CAMs from N per-pixel tuples of K scores."""
    return np.array(pixels, np.float32).T[:, None, :]


def _image(width: int, height: int = 1) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


# (cam of class 3, cam of class 7) per pixel
THRESHOLD_CAMS = _row((0.8, 0.1), (0.2, 0.25), (0.01, 0.03), (0.1, 0.6),
                      (0.3, 0.0), (0.05, 0.05), (0.15, 0.0), (0.4, 0.0))


@pytest.mark.parametrize('fg_thresh,bg_thresh,expected', [
    # default: fg above 0.30, bg where no class exceeds 0.05 (ties go to
    # the background)
    (0.30, 0.05, [4, 255, 0, 8, 255, 0, 255, 4]),
    (0.50, 0.20, [4, 255, 0, 8, 255, 0, 0, 255]),
])
def test_threshold_combine_rule_by_hand(fg_thresh, bg_thresh, expected):
    crf = IdentityCRF('label')
    refiner = ThresholdRelationLabel(fg_thresh, bg_thresh, crf=crf)
    label = refiner(_image(8), KEYS, THRESHOLD_CAMS)
    assert label.dtype == np.uint8 and label.shape == (1, 8)
    np.testing.assert_array_equal(label[0], expected)
    # both passes refine the compact label map over K + 1 = 3 labels
    assert [num_labels for _, num_labels in crf.calls] == [3, 3]
    assert crf.calls[0][0].max() <= 2


def test_threshold_fixed_label_count_runs_on_class_ids():
    crf = IdentityCRF('label', num_labels=21)
    label = ThresholdRelationLabel(crf=crf)(_image(8), KEYS, THRESHOLD_CAMS)
    np.testing.assert_array_equal(label[0], [4, 255, 0, 8, 255, 0, 255, 4])
    fg_pass, num_labels = crf.calls[0]
    assert num_labels is None
    np.testing.assert_array_equal(fg_pass[0], [4, 0, 0, 8, 0, 0, 0, 4])


def test_threshold_float16_cams_compare_in_float32():
    # float16(0.3) = 0.30005 > 0.3: above the foreground threshold, not a
    # tie with it
    cams = np.array([[[0.3, 0.04]]], np.float16)
    label = ThresholdRelationLabel(crf=IdentityCRF('label'))(
        _image(2), KEYS[:1], cams)
    np.testing.assert_array_equal(label, [[4, 0]])


def _smooth_cams(height: int, width: int) -> np.ndarray:
    """Gaussian blobs (peak 1) on the top-right and bottom-left quarters,
    and a weak 0.15 response of the first class on the top-left quarter."""
    y, x = np.mgrid[:height, :width]
    centres = ((height / 4, 3 * width / 4), (3 * height / 4, width / 4))
    cams = np.stack([
        np.exp(-((y - cy)**2 + (x - cx)**2) / (2 * (width / 8)**2))
        for cy, cx in centres
    ])
    cams[0, :height // 2, :width // 2] += 0.15
    return np.clip(cams, 0, 1).astype(np.float32)


def _split_image(height: int, width: int) -> np.ndarray:
    """Four flat quarters of different grey levels."""
    image = np.full((height, width, 3), 30, np.uint8)
    image[:height // 2, width // 2:] = 220
    image[height // 2:, :width // 2] = 120
    image[:height // 2, :width // 2] = 170
    return image


def test_threshold_real_crf_equals_direct_computation():
    height, width = 20, 24
    image, cams = _split_image(height, width), _smooth_cams(height, width)
    label = REFINERS.build(
        dict(type='ThresholdRelationLabel', fg_thresh=0.3,
             bg_thresh=0.05))(image, KEYS, cams)

    crf = DenseCRF('irn_label')
    passes = []
    for thresh in (0.3, 0.05):
        scores = np.concatenate([np.full((1, height, width), thresh), cams])
        refined = crf(image, scores.argmax(0), num_labels=3)
        passes.append(np.choose(refined, [0, KEYS[0] + 1, KEYS[1] + 1]))
    expected = np.empty((height, width), np.int64)
    for y in range(height):
        for x in range(width):
            fg, bg = passes[0][y, x], passes[1][y, x]
            expected[y, x] = fg if fg else (0 if bg == 0 else 255)
    np.testing.assert_array_equal(label, expected)
    assert set(np.unique(label).tolist()) == {0, 4, 8, 255}


def test_threshold_without_keys_is_all_background():
    label = ThresholdRelationLabel()(_split_image(6, 8), np.zeros(0, np.int64),
                                     np.zeros((0, 6, 8), np.float32))
    np.testing.assert_array_equal(label, np.zeros((6, 8), np.uint8))


def test_alpha_rules_by_hand():
    cams = _row((0.9, 0.1), (0.2, 0.1), (0.01, 0.0), (0.1, 0.5), (0.3, 0.1))
    label = AlphaRelationLabel((4, 24), crf=IdentityCRF('prob'))(
        _image(5), KEYS, cams)
    # la background (1 - max)^4: 1e-4, 0.41, 0.96, 0.0625, 0.24
    # ha background (1 - max)^24: ~0, 0.0047, 0.786, ~0, 1.9e-4
    np.testing.assert_array_equal(label[0], [4, 255, 0, 8, 4])
    assert label.dtype == np.uint8


class ScriptedCRF(IdentityCRF):
    """Returns the given score maps in turn (la, then ha)."""

    def __init__(self, *outputs: np.ndarray) -> None:
        super().__init__('prob')
        self.outputs = list(outputs)

    def __call__(self, image, scores, num_labels=None):
        return self.outputs.pop(0)


def test_alpha_ha_background_overrides_la_foreground():
    # channels: background, class 3, class 7
    la = _row((0.1, 0.8, 0.1), (0.6, 0.3, 0.1), (0.1, 0.2, 0.7))
    ha = _row((0.7, 0.2, 0.1), (0.1, 0.8, 0.1), (0.1, 0.2, 0.7))
    label = AlphaRelationLabel(crf=ScriptedCRF(la, ha))(
        _image(3), KEYS, _row((0.5, 0.5), (0.5, 0.5), (0.5, 0.5)))
    np.testing.assert_array_equal(label[0], [0, 255, 8])


def test_alpha_real_crf_equals_direct_computation():
    height, width = 20, 24
    image = _split_image(height, width)
    cams = _smooth_cams(height, width)
    label = REFINERS.build(dict(type='AlphaRelationLabel'))(image, KEYS, cams)
    low = crf_cam_with_alpha(image, cams, 4).argmax(0)
    high = crf_cam_with_alpha(image, cams, 24).argmax(0)
    for y in range(height):
        for x in range(width):
            if high[y, x] == 0:
                assert label[y, x] == 0
            elif low[y, x] == 0:
                assert label[y, x] == 255
            else:
                assert label[y, x] == KEYS[low[y, x] - 1] + 1
    assert set(np.unique(label).tolist()) == {0, 4, 8, 255}


@pytest.mark.parametrize('refiner', [
    ThresholdRelationLabel(crf=IdentityCRF('label')),
    AlphaRelationLabel(crf=IdentityCRF('prob'))
])
def test_rejects_bad_inputs(refiner):
    image, cams = _image(4, 3), np.full((2, 3, 4), 0.5, np.float32)
    with pytest.raises(ValueError, match=r'\(2, 3, 5\).*\(3, 4, 3\)'):
        refiner(image, KEYS, np.full((2, 3, 5), 0.5, np.float32))
    with pytest.raises(ValueError, match='at most 1'):
        refiner(image, KEYS, cams * 3)
    with pytest.raises(ValueError, match=r'keys \(K,\).*\(3,\)'):
        refiner(image, np.array([1, 2, 3]), cams)
    with pytest.raises(ValueError, match='class indices'):
        refiner(image, np.array([-1, 2]), cams)
    with pytest.raises(ValueError, match='uint8'):
        refiner(image.astype(np.float32), KEYS, cams)


@pytest.mark.parametrize('build,match', [
    (lambda: ThresholdRelationLabel(0.05, 0.30), 'bg_thresh <= fg_thresh'),
    (lambda: ThresholdRelationLabel(crf=dict(type='DenseCRF')),
     'label unary'),
    (lambda: AlphaRelationLabel((24, 4)), 'low <= high'),
    (lambda: AlphaRelationLabel((4, 24, 32)), 'low <= high'),
    (lambda: AlphaRelationLabel(crf=dict(
        type='DenseCRF', preset='irn_label')), 'probability unary'),
])
def test_rejects_bad_options(build, match):
    with pytest.raises(ValueError, match=match):
        build()
