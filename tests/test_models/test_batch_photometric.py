"""BatchPhotometricAug: per-sample photometric augmentation on the device,
its colour, gray and blur steps checked against OpenCV."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from wsstool.models.utils.batch_photometric import (
    BECO_GRAY_WEIGHTS, BatchPhotometricAug, adjust_brightness_contrast,
    gaussian_blur, opencv_gaussian_kernels, shift_hsv, to_gray)
from wsstool.registry import MODELS

OFF = dict(color_prob=0., gray_prob=0., blur_prob=0.)


def _images(batch=4, height=9, width=11, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator) * 255


def _hwc(image):
    return image.permute(1, 2, 0).numpy()


def test_is_registered_and_keeps_shape_dtype_and_range():
    init_default_scope('wsstool')
    aug = MODELS.build(dict(type='BatchPhotometricAug'))
    assert isinstance(aug, BatchPhotometricAug)
    images = _images(8)
    torch.manual_seed(0)
    out = aug(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0 and out.max() <= 255
    assert not torch.allclose(out, images)
    # a model cast to another dtype still augments (the kernels follow)
    aug.to(torch.float64)
    assert aug(images.double()).dtype == torch.float64


def test_zero_probabilities_are_the_identity():
    images = _images()
    assert torch.equal(BatchPhotometricAug(**OFF)(images), images)


def test_gray_with_probability_one_gives_equal_channels():
    images = _images()
    out = BatchPhotometricAug(**{**OFF, 'gray_prob': 1.})(images)
    r, g, b = images.unbind(dim=1)
    for channel in out.unbind(dim=1):
        torch.testing.assert_close(channel, 0.299 * r + 0.587 * g + 0.114 * b)
    expected = np.stack([
        cv2.cvtColor(_hwc(image), cv2.COLOR_RGB2GRAY) for image in images
    ])
    np.testing.assert_allclose(out[:, 0].numpy(), expected, atol=1e-3)
    assert torch.equal(to_gray(images), out)


def test_beco_gray_weights_equal_opencv_gray_of_channel_swapped_images():
    images = _images()
    out = BatchPhotometricAug(**{**OFF, 'gray_prob': 1.},
                              gray_weights=BECO_GRAY_WEIGHTS)(images)
    # BECO: RGB data passed through cv2's BGR -> RGB swap, then ToGray
    expected = np.stack([
        cv2.cvtColor(cv2.cvtColor(_hwc(image), cv2.COLOR_BGR2RGB),
                     cv2.COLOR_RGB2GRAY) for image in images
    ])
    np.testing.assert_allclose(out[:, 1].numpy(), expected, atol=1e-3)


def test_deterministic_under_a_seed_and_random_per_sample():
    aug = BatchPhotometricAug(color_prob=1., gray_prob=0., blur_prob=1.)
    images = _images(1).expand(4, -1, -1, -1).contiguous()
    torch.manual_seed(7)
    first = aug(images)
    torch.manual_seed(7)
    assert torch.equal(first, aug(images))
    torch.manual_seed(8)
    assert not torch.equal(first, aug(images))
    # identical inputs get different draws
    assert not torch.allclose(first[0], first[1])


def test_brightness_contrast_formula():
    images = _images(2)
    contrast = torch.tensor([1.2, 0.8])
    brightness = torch.tensor([0.1, -0.2])
    out = adjust_brightness_contrast(images, contrast, brightness)
    for b in range(2):
        expected = np.clip(
            images[b].numpy() * float(contrast[b]) + 255 * float(
                brightness[b]), 0, 255)
        np.testing.assert_allclose(out[b].numpy(), expected, rtol=1e-6,
                                   atol=1e-4)


def test_hsv_shift_matches_opencv():
    images = _images(3)
    hue = torch.tensor([20., -15., 0.])  # OpenCV 8-bit units, 180 per turn
    sat = torch.tensor([30., -30., 10.])
    val = torch.tensor([-20., 20., 0.])
    out = shift_hsv(images, hue, sat, val)
    for b in range(3):
        hsv = cv2.cvtColor(_hwc(images[b]) / 255, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + 2 * float(hue[b])) % 360  # degrees
        hsv[..., 1] = np.clip(hsv[..., 1] + float(sat[b]) / 255, 0, 1)
        hsv[..., 2] = np.clip(hsv[..., 2] + float(val[b]) / 255, 0, 1)
        expected = cv2.cvtColor(hsv.astype(np.float32),
                                cv2.COLOR_HSV2RGB) * 255
        np.testing.assert_allclose(_hwc(out[b]), expected, atol=0.05)


def test_zero_colour_ranges_leave_the_image_unchanged():
    aug = BatchPhotometricAug(
        color_prob=1., brightness_limit=0., contrast_limit=0.,
        hue_shift_limit=0., sat_shift_limit=0., val_shift_limit=0.,
        gray_prob=0., blur_prob=0.)
    images = _images()
    torch.testing.assert_close(aug(images), images, atol=1e-3, rtol=0)


def test_blur_matches_opencv_per_sample_kernel_sizes():
    images = _images(2, 8, 10)
    kernels = opencv_gaussian_kernels(5)
    out = gaussian_blur(images, kernels[[0, 1]])
    for b, size in enumerate((3, 5)):
        expected = cv2.GaussianBlur(_hwc(images[b]), (size, size), 0)
        np.testing.assert_allclose(_hwc(out[b]), expected, atol=1e-3)


def test_blur_step_draws_kernel_sizes_three_and_five():
    images = _images(1).expand(16, -1, -1, -1).contiguous()
    aug = BatchPhotometricAug(**{**OFF, 'blur_prob': 1.})
    torch.manual_seed(0)
    out = aug(images)
    candidates = {
        size: cv2.GaussianBlur(_hwc(images[0]), (size, size), 0)
        for size in (3, 5)
    }
    sizes = []
    for sample in out:
        matches = [size for size, blurred in candidates.items()
                   if np.allclose(_hwc(sample), blurred, atol=1e-3)]
        assert len(matches) == 1
        sizes += matches
    assert set(sizes) == {3, 5}


@pytest.mark.parametrize('kwargs, match', [
    (dict(color_prob=1.5), 'color_prob'),
    (dict(hue_shift_limit=-1), 'hue_shift_limit'),
    (dict(blur_limit=4), 'blur_limit'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchPhotometricAug(**kwargs)


def test_bad_image_shape_is_reported():
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        BatchPhotometricAug()(torch.zeros(2, 1, 4, 4))
