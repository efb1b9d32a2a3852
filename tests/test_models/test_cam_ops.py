import pytest
import torch
import torch.nn.functional as F

from wsstool.models.utils import (cam_to_original, multi_scale_flip_cams,
                                  normalize_cam, scaled_size)


def test_max_norm_hand_values():
    cam = torch.tensor([[[0., 2.], [4., 1.]], [[-1., 0.5], [0.25, 0.]]])
    out = normalize_cam(cam, 'max')
    expected = torch.tensor([[[0., 2.], [4., 1.]]]) / 4.00001
    torch.testing.assert_close(out[:1], expected)
    torch.testing.assert_close(out[1], cam[1] / 0.50001)


def test_minmax_train_hand_values():
    cam = torch.tensor([[[-1., 1.], [3., 2.]]])
    # relu -> [[0, 1], [3, 2]], min 0, max 3
    expected = torch.tensor([[[0., 1 - 1e-5], [3 - 1e-5, 2 - 1e-5]]]) / (
        3 + 1e-5)
    torch.testing.assert_close(normalize_cam(cam, 'minmax_train'), expected)


def test_minmax_infer_hand_values():
    cam = torch.tensor([[[1., 2.], [5., 3.]]])
    # min 1, max 5; the min pixel is zeroed before the shift
    expected = torch.tensor([[[-1 - 1e-5, 1 - 1e-5],
                              [4 - 1e-5, 2 - 1e-5]]]) / (4 + 1e-5)
    torch.testing.assert_close(normalize_cam(cam, 'minmax_infer'), expected)
    negative = torch.tensor([[[-2., 0.], [2., 1.]]])
    # clamp -> [[0, 0], [2, 1]], min 0, max 2
    expected = torch.tensor([[[-1e-5, -1e-5], [2 - 1e-5, 1 - 1e-5]]]) / (
        2 + 1e-5)
    torch.testing.assert_close(normalize_cam(negative, 'minmax_infer'),
                               expected)


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="'l2'"):
        normalize_cam(torch.zeros(1, 2, 2), 'l2')


def test_scaled_size_rounds():
    assert scaled_size((33, 50), 0.5) == (16, 25)
    assert scaled_size((33, 50), 1.5) == (50, 75)
    # halves round to even: 2.5 -> 2, 1.5 -> 2, 22.5 -> 22; at least 1
    assert scaled_size((5, 3), 0.5) == (2, 2)
    assert scaled_size((30, 1), 0.75) == (22, 1)
    assert scaled_size((1, 1), 0.1) == (1, 1)
    # BECO's 512 x 512 test input with its scales: exact products
    for scale in (0.5, 0.75, 1.0, 1.25, 1.5):
        assert scaled_size((512, 512), scale) == (int(512 * scale), ) * 2


def _pool_cam_fn(images):
    """A CAM of stride 2 that is not flip-symmetric: channel 0 of the
    image, shifted by the column index."""
    cam = F.avg_pool2d(images[:, :1], 2)
    cam = cam + torch.arange(cam.shape[-1], dtype=cam.dtype)
    return cam, images.mean(dim=(2, 3))


def _loop_multi_scale_flip(inputs, cam_relu, resize_mode, scales=(1.0, 0.5)):
    """Reference: one image, one scale, one flip at a time."""
    expected_cam = torch.zeros(2, 1, 12, 16)
    expected_logits = torch.zeros(2, 3)
    for index in range(2):
        image = inputs[index:index + 1]
        for scale in scales:
            size = (round(12 * scale), round(16 * scale))
            scaled = image if scale == 1.0 else F.interpolate(
                image, size=size, mode=resize_mode, align_corners=False,
                antialias=resize_mode == 'bicubic')
            for flipped in (False, True):
                x = scaled.flip(-1) if flipped else scaled
                cam, logit = _pool_cam_fn(x)
                if cam_relu == 'before_upsample':
                    cam = cam.clamp(min=0)
                cam = F.interpolate(cam, size=(12, 16), mode='bilinear',
                                    align_corners=False)
                if cam_relu == 'after_upsample':
                    cam = cam.clamp(min=0)
                expected_cam[index] += (cam.flip(-1) if flipped else cam)[0]
                expected_logits[index] += logit[0] / (2 * len(scales))
    return expected_cam, expected_logits


@pytest.mark.parametrize('cam_relu', ['before_upsample', 'after_upsample'])
@pytest.mark.parametrize('resize_mode', ['bilinear', 'bicubic'])
def test_multi_scale_flip_cams_matches_loop(cam_relu, resize_mode):
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 12, 16) - 1.0
    cams, logits = multi_scale_flip_cams(
        _pool_cam_fn, inputs, scales=(1.0, 0.5, 1.5), flip=True,
        cam_relu=cam_relu, resize_mode=resize_mode)
    expected_cam, expected_logits = _loop_multi_scale_flip(
        inputs, cam_relu, resize_mode, scales=(1.0, 0.5, 1.5))
    torch.testing.assert_close(cams, expected_cam)
    torch.testing.assert_close(logits, expected_logits)


def test_relu_placement_matters_at_sign_changes():
    """A +1/-1 step: rectifying after upsampling keeps the interpolated
    zero crossing; rectifying first moves mass into the negative side."""
    step = torch.tensor([[[[1.0, -1.0]]]])

    def cam_fn(images):
        return step.expand(images.shape[0], 1, 1, 2), torch.zeros(
            images.shape[0], 1)

    inputs = torch.zeros(1, 3, 1, 8)
    before, _ = multi_scale_flip_cams(cam_fn, inputs)
    after, _ = multi_scale_flip_cams(cam_fn, inputs,
                                     cam_relu='after_upsample')
    # bilinear 2 -> 8 pixels of [1, -1]: [1, 1, .75, .25, -.25, -.75, ..]
    torch.testing.assert_close(
        after[0, 0, 0], torch.tensor([1, 1, .75, .25, 0, 0, 0, 0]))
    # of relu([1, -1]) = [1, 0]: [1, 1, .875, .625, .375, .125, 0, 0]
    torch.testing.assert_close(
        before[0, 0, 0], torch.tensor([1, 1, .875, .625, .375, .125, 0, 0]))


def test_multi_scale_flip_cams_rejects_unknown_modes():
    with pytest.raises(ValueError, match='cam_relu'):
        multi_scale_flip_cams(_pool_cam_fn, torch.zeros(1, 3, 4, 4),
                              cam_relu='never')
    with pytest.raises(ValueError, match='resize mode'):
        multi_scale_flip_cams(_pool_cam_fn, torch.zeros(1, 3, 4, 4),
                              scales=(0.5, ), resize_mode='nearest')


def test_cam_to_original_crops_unflips_and_resizes():
    cam = torch.arange(2 * 4 * 6, dtype=torch.float32).view(2, 4, 6)
    meta = dict(img_shape=(3, 4), ori_shape=(3, 4))
    torch.testing.assert_close(cam_to_original(cam, meta), cam[:, :3, :4])

    meta = dict(img_shape=(3, 4), ori_shape=(3, 4), flip=True,
                flip_direction='horizontal')
    torch.testing.assert_close(
        cam_to_original(cam, meta), cam[:, :3, :4].flip(-1))

    meta = dict(img_shape=(3, 4), ori_shape=(6, 7))
    expected = F.interpolate(cam[None, :, :3, :4], size=(6, 7),
                             mode='bilinear', align_corners=False)[0]
    torch.testing.assert_close(cam_to_original(cam, meta), expected)
    assert cam_to_original(cam[:0], meta).shape == (0, 6, 7)


def test_upsample_stride_aligns_cells_with_the_network_stride():
    """Two feature cells of a stride-16 network cover pixels [0, 16) and
    [16, 32): IRN's strided upsampling puts the step between them at pixel
    16 even for a 20-pixel-wide input; a plain resize would put it at 10."""
    step = torch.tensor([[[[0.0, 1.0]]]])  # (1, 1, 1, 2)

    def cam_fn(images):
        return step.expand(images.shape[0], 1, 1, 2), torch.zeros(
            images.shape[0], 1)

    inputs = torch.zeros(1, 3, 8, 20)
    strided, _ = multi_scale_flip_cams(cam_fn, inputs, upsample_stride=16)
    plain, _ = multi_scale_flip_cams(cam_fn, inputs)
    assert strided.shape == plain.shape == (1, 1, 8, 20)
    row = strided[0, 0, 0]
    assert row[15] < 0.5 < row[16]
    assert plain[0, 0, 0, 9] < 0.5 < plain[0, 0, 0, 10]
    # bilinear, align_corners=False over 32 output pixels: a linear ramp
    # between the cell centres 8 and 24, then cropped to 20 columns
    torch.testing.assert_close(
        row, ((torch.arange(20) + 0.5 - 8) / 16).clamp(0, 1))
