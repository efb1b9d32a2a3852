import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from wsstool.models.losses.superpixel_alignment_loss import (
    SuperpixelAlignmentLoss, binary_erode)
from wsstool.models.utils.superpixel_ops import (downsample_ids,
                                                 stack_superpixels,
                                                 superpixel_mean)
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample


def _loop_superpixel_mean(maps: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.zeros_like(maps, dtype=np.float64)
    for b in range(maps.shape[0]):
        for sp in set(ids[b].ravel().tolist()) - {-1}:
            inside = ids[b] == sp
            for k in range(maps.shape[1]):
                out[b, k][inside] = maps[b, k][inside].mean()
    return out


def _sparse_ids(rng, shape):
    """Ids drawn from a sparse set of large values, some pixels -1."""
    values = np.array([-1, 0, 7, 70_000, 2**31 + 5, 10**12])
    return values[rng.randint(0, len(values), shape)]


def test_superpixel_mean_matches_a_loop():
    rng = np.random.RandomState(0)
    maps = rng.randn(2, 3, 5, 7).astype(np.float32)
    ids = _sparse_ids(rng, (2, 5, 7))
    out = superpixel_mean(torch.from_numpy(maps), torch.from_numpy(ids))
    assert out.dtype == torch.float32 and out.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(
        out.numpy(), _loop_superpixel_mean(maps, ids), rtol=1e-5, atol=1e-6)
    # the same id in two images names two superpixels
    assert not np.allclose(out[0, 0][ids[0] == 7][0],
                           out[1, 0][ids[1] == 7][0])
    assert (out.permute(1, 0, 2, 3)[:, torch.from_numpy(ids) == -1] == 0).all()


def test_superpixel_mean_half_precision_and_gradient():
    rng = np.random.RandomState(1)
    maps = torch.from_numpy(rng.rand(2, 2, 4, 6).astype(np.float32) * 100)
    ids = torch.from_numpy(_sparse_ids(rng, (2, 4, 6)))
    half = superpixel_mean(maps.half(), ids)
    assert half.dtype == torch.float16
    np.testing.assert_allclose(
        half.float().numpy(),
        _loop_superpixel_mean(maps.numpy(), ids.numpy()),
        rtol=1e-3)
    maps.requires_grad_(True)
    superpixel_mean(maps, ids)[0, 1].sum().backward()
    # d(sum of the means)/d(pixel) = 1 for every pixel of a superpixel
    expected = torch.zeros_like(maps)
    expected[0, 1] = (ids[0] >= 0).float()
    torch.testing.assert_close(maps.grad, expected)
    # all pixels invalid: zeros
    empty = superpixel_mean(maps.detach(), torch.full((2, 4, 6), -1))
    assert (empty == 0).all()


def test_downsample_ids_exact():
    rng = np.random.RandomState(2)
    ids = torch.from_numpy(rng.randint(0, 1000, (2, 12, 10)))
    half = downsample_ids(ids, (6, 5))
    torch.testing.assert_close(half, ids[:, ::2, ::2])
    reference = F.interpolate(
        ids[:, None].float(), scale_factor=0.5, mode='nearest')[:, 0]
    torch.testing.assert_close(half, reference.long())
    for size in ((5, 3), (12, 10), (24, 17)):
        out = downsample_ids(ids, size)
        expected = F.interpolate(ids[:, None].double(), size,
                                 mode='nearest')[:, 0].long()
        torch.testing.assert_close(out, expected)
    # large ids survive (float32 resizing would round them)
    large = ids + 2**40
    torch.testing.assert_close(downsample_ids(large, (6, 5)), half + 2**40)
    with pytest.raises(ValueError, match='downsample_ids'):
        downsample_ids(ids[0], (6, 5))


def _sample(ids, valid=None):
    sample = WSSSDataSample(metainfo=dict(img_path='x.jpg'))
    sample.superpixel = PixelData(data=torch.as_tensor(ids)[None])
    if valid is not None:
        sample.valid_mask = PixelData(data=torch.as_tensor(valid)[None])
    return sample


def test_stack_superpixels_masks_padding():
    ids = torch.arange(24).reshape(2, 3, 4)
    valid = torch.ones(2, 3, 4, dtype=torch.bool)
    valid[1, :, 3] = False
    out = stack_superpixels([_sample(ids[0], valid[0]),
                             _sample(ids[1], valid[1])], 'SSC')
    assert out.dtype == torch.int64
    expected = ids.clone()
    expected[1, :, 3] = -1
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        stack_superpixels([_sample(ids[0]), _sample(ids[1])], 'SSC'), ids)
    with pytest.raises(ValueError, match='no superpixel'):
        stack_superpixels([WSSSDataSample()], 'SSC')
    with pytest.raises(ValueError, match='pad superpixel'):
        stack_superpixels(
            [_sample(ids[0], torch.ones(4, 4, dtype=torch.bool))], 'SSC')


def test_binary_erode_matches_cv2():
    rng = np.random.RandomState(3)
    mask = rng.rand(3, 13, 17) > 0.15
    mask[0] = True
    for size in (1, 2, 3, 4, 5, 8):
        out = binary_erode(torch.from_numpy(mask), size).numpy()
        for i in range(3):
            expected = cv2.erode(mask[i].astype(np.uint8),
                                 np.ones((size, size), np.uint8))
            np.testing.assert_array_equal(out[i], expected.astype(bool))


def _reference_loss(cam, labels, ids, thr, k, mode):
    """Loop implementation of SSC's alignment loss on the grid of ``ids``
    (already downsampled). ``mode='ignore'``: -1 pixels excluded;
    ``'reference'``: they form one more superpixel per image. Returns the
    loss and the target maps (for the gradient check)."""
    cam = torch.as_tensor(cam, dtype=torch.float32)
    h, w = ids.shape[1:]
    up = F.interpolate(cam, (h, w), mode='bilinear',
                       align_corners=False).numpy().astype(np.float64)
    terms, targets = [], {}
    for b in range(cam.shape[0]):
        sp = ids[b].copy()
        if mode == 'reference':
            sp[sp == -1] = sp.max() + 1
        valid = sp >= 0
        for c in range(cam.shape[1]):
            if labels[b, c] <= 0:
                continue
            p = up[b, c] * labels[b, c]
            mean = np.zeros_like(p)
            for value in np.unique(sp[valid]):
                mean[sp == value] = p[sp == value].mean()
            p_hat = np.maximum(p, 0) * valid
            p_hat = p_hat / (p_hat.max() + 1e-5)
            mean_hat = np.maximum(mean, 0) / (np.maximum(mean, 0).max() +
                                              1e-5)
            region = ((p_hat > thr) | ~valid).astype(np.uint8)
            region = cv2.erode(region, np.ones((k, k), np.uint8))
            target = np.maximum(mean_hat, p_hat * region)
            targets[b, c] = target
            terms.append(((p_hat - target)**2)[valid])
    return np.concatenate(terms).mean(), targets


def _inputs():
    """2 images, 3 classes (class 2 absent from image 0, class 0 from image
    1), superpixel map 12 x 16 with padding on image 1, cam on the 6 x 8
    grid: a bright blob per class so that erosion matters."""
    rng = np.random.RandomState(4)
    yy, xx = np.mgrid[:6, :8]
    cam = rng.randn(2, 3, 6, 8).astype(np.float32) * 0.3
    cam[:, 0] += 3 * np.exp(-((yy - 2)**2 + (xx - 3)**2) / 6)
    cam[:, 1] += 2 * np.exp(-((yy - 3)**2 + (xx - 5)**2) / 4)
    cam[:, 2] += 4 * (xx >= 4)
    labels = np.array([[1., 1., 0.], [0., 1., 1.]], np.float32)
    ids = np.repeat(np.repeat((yy // 2) * 4 + xx // 2, 2, 0), 2, 1)
    ids = np.stack([ids, ids * 3 + 100])
    ids[1, :, 12:] = -1
    ids[0, 0, 1] = 99  # odd pixels are dropped by the 0.5 downsampling
    return cam, labels, ids


@pytest.mark.parametrize('mode', ['ignore', 'reference'])
@pytest.mark.parametrize('erode_size', [1, 2, 3])
def test_loss_matches_a_loop_implementation(mode, erode_size):
    cam, labels, ids = _inputs()
    loss_fn = MODELS.build(
        dict(
            type='SuperpixelAlignmentLoss',
            loss_weight=2.0,
            erode_size=erode_size,
            ignore_invalid=mode == 'ignore'))
    assert loss_fn.loss_name == 'loss_align'
    loss = loss_fn(torch.from_numpy(cam), torch.from_numpy(labels),
                   torch.from_numpy(ids))
    expected, _ = _reference_loss(cam, labels, ids[:, ::2, ::2], 0.3,
                                  erode_size, mode)
    assert loss.dtype == torch.float32
    np.testing.assert_allclose(loss.item(), 2 * expected, rtol=1e-5)


def test_erosion_and_invalid_pixels_change_the_loss():
    cam, labels, ids = _inputs()
    values = {
        (size, ignore): SuperpixelAlignmentLoss(
            erode_size=size, ignore_invalid=ignore)(
                torch.from_numpy(cam), torch.from_numpy(labels),
                torch.from_numpy(ids)).item()
        for size in (1, 3) for ignore in (True, False)
    }
    assert len(set(values.values())) == 4


def test_loss_on_a_coarser_cam_and_reliable_threshold():
    cam, labels, ids = _inputs()
    coarse = cam[:, :, ::2, ::2].copy()
    loss = SuperpixelAlignmentLoss(reliable_thr=0.5, erode_size=2)(
        torch.from_numpy(coarse), torch.from_numpy(labels),
        torch.from_numpy(ids))
    expected, _ = _reference_loss(coarse, labels, ids[:, ::2, ::2], 0.5, 2,
                                  'ignore')
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)


def test_gradient_reaches_the_cam_but_not_the_target():
    cam, labels, ids = _inputs()
    cam_t = torch.from_numpy(cam).requires_grad_(True)
    SuperpixelAlignmentLoss(erode_size=2)(cam_t, torch.from_numpy(labels),
                                          torch.from_numpy(ids)).backward()
    # the same loss with the loop's targets as constants
    _, targets = _reference_loss(cam, labels, ids[:, ::2, ::2], 0.3, 2,
                                 'ignore')
    ref_cam = torch.from_numpy(cam).double().requires_grad_(True)
    grid = torch.from_numpy(ids[:, ::2, ::2])
    terms = []
    for (b, c), target in targets.items():
        valid = grid[b] >= 0
        p_hat = F.relu(ref_cam[b, c]) * valid
        p_hat = p_hat / (p_hat.max() + 1e-5)
        terms.append(((p_hat - torch.from_numpy(target))**2)[valid])
    torch.cat(terms).mean().backward()
    assert cam_t.grad.abs().sum() > 0
    torch.testing.assert_close(
        cam_t.grad, ref_cam.grad.float(), rtol=1e-4, atol=1e-7)
    assert (cam_t.grad[0, 2] == 0).all() and (cam_t.grad[1, 0] == 0).all()


def test_no_present_class_and_errors():
    cam = torch.randn(1, 2, 4, 4, requires_grad=True)
    loss = SuperpixelAlignmentLoss()(cam, torch.zeros(1, 2),
                                     torch.zeros(1, 8, 8, dtype=torch.long))
    assert loss.item() == 0
    loss.backward()
    with pytest.raises(ValueError, match='expected cam'):
        SuperpixelAlignmentLoss()(cam, torch.zeros(1, 3),
                                  torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match='loss_name'):
        SuperpixelAlignmentLoss(loss_name='align')


@pytest.mark.parametrize('kwargs, match', [
    (dict(erode_size=0), 'erode_size.*got 0'),
    (dict(erode_size=True), 'erode_size.*got True'),
    (dict(size_ratio=0), 'size_ratio.*got 0'),
    (dict(size_ratio=1.5), 'size_ratio.*got 1.5'),
    (dict(size_ratio='0.5'), "size_ratio.*got '0.5'"),
    (dict(reliable_thr=1.0), 'reliable_thr.*got 1.0'),
    (dict(reliable_thr=-0.1), 'reliable_thr.*got -0.1'),
    (dict(reliable_thr=None), 'reliable_thr.*got None'),
    (dict(ignore_invalid=0), 'ignore_invalid.*got 0'),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SuperpixelAlignmentLoss(**kwargs)


def test_default_erosion_is_the_released_code_kernel():
    # step/train_cam.py erodes with 16 x 16 (the written description: 8)
    assert SuperpixelAlignmentLoss().erode_size == 16
    cam, labels, ids = _inputs()
    # a 48 x 64 superpixel map: a 24 x 32 grid, on which erosions by 8 and
    # by 16 leave different reliable regions
    ids = np.kron(ids, np.ones((4, 4), ids.dtype))
    loss = SuperpixelAlignmentLoss()(torch.from_numpy(cam),
                                     torch.from_numpy(labels),
                                     torch.from_numpy(ids))
    grid = ids[:, ::2, ::2]
    expected, _ = _reference_loss(cam, labels, grid, 0.3, 16, 'ignore')
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)
    written, _ = _reference_loss(cam, labels, grid, 0.3, 8, 'ignore')
    assert abs(written - expected) > 1e-4
