import pytest
import torch
import torch.nn.functional as F

from wsstool.models.segmentors.base import BaseSegmentor
from wsstool.models.segmentors.tta import tta_logits
from wsstool.structures import WSSSDataSample


def _ramp_logits(images):
    """Logits (B, 2, h, w) that are not flip-invariant:
    channel k = (k + 1) * image channel 0 + column index."""
    columns = torch.arange(images.shape[-1], dtype=images.dtype)
    return torch.cat([(k + 1) * images[:, :1] + columns for k in range(2)],
                     dim=1)


def _bilinear(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class _SizeRecorder:
    """Constant logits (B, 2, h, w): channel 0 = w, channel 1 = -w; records
    the input sizes."""

    def __init__(self):
        self.sizes = []

    def __call__(self, images):
        self.sizes.append(tuple(images.shape[-2:]))
        width = float(images.shape[-1])
        out = images.new_empty(images.shape[0], 2, *images.shape[-2:])
        out[:, 0], out[:, 1] = width, -width
        return out


def test_flip_is_undone():
    images = torch.randn(2, 3, 5, 7)
    width = 7
    columns = torch.arange(width, dtype=torch.float32)
    base = torch.cat([(k + 1) * images[:, :1] for k in range(2)], dim=1)
    # flipped pass, flipped back: column x sees column (w - 1 - x) of the ramp
    torch.testing.assert_close(
        tta_logits(_ramp_logits, images), base + columns)
    torch.testing.assert_close(
        tta_logits(_ramp_logits, images, flip=True),
        base + (width - 1) / 2)
    torch.testing.assert_close(
        tta_logits(_ramp_logits, images, flip=True, fusion='max'),
        base + torch.maximum(columns, width - 1 - columns))


def test_scales_are_resized_back_and_fused_by_mean_or_max():
    images = torch.randn(2, 3, 20, 30)
    record = _SizeRecorder()
    fused = tta_logits(record, images, scales=(0.5, 0.75, 1.3),
                       size=(20, 30))
    # 30 * 0.75 = 22.5 rounds half to even (cam_ops.scaled_size)
    assert record.sizes == [(10, 15), (15, 22), (26, 39)]
    assert fused.shape == (2, 2, 20, 30) and fused.dtype == torch.float32
    mean = (15 + 22 + 39) / 3
    torch.testing.assert_close(fused[:, 0], torch.full((2, 20, 30), mean))
    torch.testing.assert_close(fused[:, 1], torch.full((2, 20, 30), -mean))

    record = _SizeRecorder()
    fused = tta_logits(record, images, scales=(0.5, 0.75, 1.3), flip=True,
                       fusion='max', size=(20, 30))
    assert record.sizes == [(10, 15)] * 2 + [(15, 22)] * 2 + [(26, 39)] * 2
    torch.testing.assert_close(fused[:, 0], torch.full((2, 20, 30), 39.))
    torch.testing.assert_close(fused[:, 1], torch.full((2, 20, 30), -15.))


def test_rescaled_maps_match_an_independent_resize_chain():
    images = torch.randn(1, 3, 12, 18)
    fused = tta_logits(lambda x: x[:, :2] * 2, images, scales=(0.5, 1.5),
                       size=(12, 18))
    expected = sum(
        _bilinear(_bilinear(images, size)[:, :2] * 2, (12, 18))
        for size in ((6, 9), (18, 27))) / 2
    torch.testing.assert_close(fused, expected)


def _pooled_logits(images):
    """Stride-2 "head" logits (B, 2, ceil(h/2), ceil(w/2)) that depend on
    neighbouring pixels."""
    return F.avg_pool2d(images[:, :2], 2, ceil_mode=True) * 3


def test_default_grid_is_that_of_the_unscaled_logits():
    images = torch.randn(2, 3, 12, 18)
    record = _SizeRecorder()
    tta_logits(record, images, scales=(0.5, 1.0, 1.5))
    assert record.sizes[0] == (12, 18)  # the unscaled pass runs first
    fused = tta_logits(_pooled_logits, images, scales=(0.5, 1.0, 1.5),
                       fusion='max')
    # written out: each scale's head logits resized to the 6 x 9 grid
    heads = [_pooled_logits(_bilinear(images, size))
             for size in ((6, 9), (12, 18), (18, 27))]
    assert [tuple(h.shape[-2:]) for h in heads] == [(3, 5), (6, 9), (9, 14)]
    expected = torch.stack([_bilinear(h, (6, 9)) for h in heads]).amax(0)
    torch.testing.assert_close(fused, expected)
    with pytest.raises(ValueError, match='include 1.0'):
        tta_logits(_pooled_logits, images, scales=(0.5, 1.5))
    with pytest.raises(ValueError, match='fusion'):
        tta_logits(_ramp_logits, torch.zeros(1, 3, 4, 4), fusion='median')


class _ImageSegmentor(BaseSegmentor):
    """Logits = the first two image channels; records the input sizes."""

    num_classes = 2

    def __init__(self, **test_cfg):
        super().__init__(test_cfg=test_cfg)
        self.sizes = []

    def head_logits(self, inputs):
        self.sizes.append(tuple(inputs.shape))
        return inputs[:, :2] * 3

    def loss(self, inputs, data_samples):
        return dict(loss=inputs.sum())


def _padded_batch():
    """Two images, 10 x 14 and 12 x 9, padded with 1000 to 12 x 14."""
    gen = torch.Generator().manual_seed(0)
    inputs = torch.full((2, 3, 12, 14), 1000.)
    inputs[0, :, :10, :14] = torch.randn(3, 10, 14, generator=gen)
    inputs[1, :, :12, :9] = torch.randn(3, 12, 9, generator=gen)
    samples = [
        WSSSDataSample(metainfo=dict(img_shape=(10, 14), ori_shape=(10, 14))),
        WSSSDataSample(metainfo=dict(img_shape=(12, 9), ori_shape=(15, 11))),
    ]
    return inputs, samples


def test_resize_to_resizes_each_unpadded_image_and_back():
    inputs, samples = _padded_batch()
    model = _ImageSegmentor(resize_to=(16, 16), scales=(1.0, 0.5),
                            fusion='max')
    results = model.predict(inputs, samples)
    assert model.sizes == [(2, 3, 16, 16), (2, 3, 8, 8)]
    for image, (h, w), result in zip(inputs, [(10, 14), (12, 9)], results):
        resized = _bilinear(image[None, :, :h, :w], (16, 16))
        logits = torch.maximum(resized[:, :2] * 3,
                               _bilinear(_bilinear(resized, (8, 8))[:, :2] * 3,
                                         (16, 16)))
        # one resize, straight to the original size
        ori_shape = result.metainfo['ori_shape']
        expected = _bilinear(logits, ori_shape)[0]
        torch.testing.assert_close(result.seg_logits.data, expected)
        assert result.seg_logits.data.abs().max() < 100  # no padding leaks
        assert torch.equal(result.pred_sem_seg.data[0], expected.argmax(0))


class _PooledSegmentor(_ImageSegmentor):
    """Head logits on a stride-2 grid (:func:`_pooled_logits`)."""

    def head_logits(self, inputs):
        self.sizes.append(tuple(inputs.shape))
        return _pooled_logits(inputs)


@pytest.mark.parametrize('resize_to', [None, (16, 16)])
def test_head_fusion_resizes_the_head_grid_once(resize_to):
    inputs, samples = _padded_batch()
    samples[1].set_metainfo(dict(flip=True, flip_direction='horizontal'))
    scales = (0.5, 1.0, 1.5)
    model = _PooledSegmentor(scales=scales, fusion='max', fuse_at='head',
                             resize_to=resize_to)
    results = model.predict(inputs, samples)
    for image, sample, result in zip(inputs, samples, results):
        h, w = sample.metainfo['img_shape']
        image = image[None, :, :h, :w]
        if resize_to is not None:
            image = _bilinear(image, resize_to)
        base = image.shape[-2:]
        heads = []
        for scale in scales:
            size = (round(base[0] * scale), round(base[1] * scale))
            heads.append(_pooled_logits(_bilinear(image, size)))
        grid = heads[1].shape[-2:]
        fused = torch.stack([_bilinear(x, grid) for x in heads]).amax(0)
        if sample.metainfo.get('flip'):
            fused = fused.flip(-1)
        expected = _bilinear(fused, sample.metainfo['ori_shape'])[0]
        torch.testing.assert_close(result.seg_logits.data, expected)
        assert result.seg_logits.data.abs().max() < 100  # no padding leaks
    # the unscaled crops run first; one group per crop size
    expected_sizes = [(1, 3, 10, 14), (1, 3, 5, 7), (1, 3, 15, 21),
                      (1, 3, 12, 9), (1, 3, 6, 4), (1, 3, 18, 14)]
    if resize_to is not None:
        expected_sizes = [(2, 3, 16, 16), (2, 3, 8, 8), (2, 3, 24, 24)]
    assert model.sizes == expected_sizes

    # fused at the input size, the same logits give other values
    model = _PooledSegmentor(scales=scales, fusion='max', fuse_at='input',
                             resize_to=resize_to)
    at_input = model.predict(inputs, _padded_batch()[1])
    assert not torch.allclose(at_input[0].seg_logits.data,
                              results[0].seg_logits.data, atol=1e-3)


def test_predict_crops_the_padding_then_resizes_to_ori_shape():
    inputs, samples = _padded_batch()
    model = _ImageSegmentor(flip=True)
    results = model.predict(inputs, samples)
    # each image without its padding, the second after un-flipping too
    assert model.sizes == [(1, 3, 10, 14)] * 2 + [(1, 3, 12, 9)] * 2
    assert results[0].seg_logits.shape == (10, 14)
    torch.testing.assert_close(results[0].seg_logits.data,
                               inputs[0, :2, :10, :14] * 3)
    torch.testing.assert_close(
        results[1].seg_logits.data,
        _bilinear(inputs[1:, :2, :12, :9] * 3, (15, 11))[0])
    # without data samples the inputs are taken as unpadded
    results = model.predict(inputs[:1, :, :10])
    assert results[0].seg_logits.shape == (10, 14)


@pytest.mark.parametrize('test_cfg, match', [
    (dict(scale=(1.0, )), r"unknown keys \['scale'\].*'crf_image', 'flip'"),
    (dict(fusion='median'), 'fusion'),
    (dict(fuse_at='logits'), 'fuse_at'),
    (dict(fuse_at='head', scales=(0.75, 1.25)), 'include 1.0'),
    (dict(crf_image='mean_sub'), 'crf_image'),
    (dict(scales=(1.0, 0)), 'scales'),
    (dict(scales=()), 'scales'),
    (dict(flip=1), 'flip'),
    (dict(resize_to=(512, )), 'resize_to'),
    (dict(resize_to=(512.0, 512)), 'resize_to'),
    (dict(crf='deeplab_beco'), 'crf must be None'),
    (dict(crf=dict(type='DenseCRF', preset='irn_label')), 'probability'),
])
def test_test_cfg_is_validated(test_cfg, match):
    with pytest.raises(ValueError, match=match):
        _ImageSegmentor(**test_cfg)


def test_forward_modes():
    model = _ImageSegmentor()
    inputs = torch.randn(1, 3, 4, 5)
    torch.testing.assert_close(model(inputs), inputs[:, :2] * 3)
    assert model(inputs, mode='predict')[0].pred_sem_seg.shape == (4, 5)
    with pytest.raises(ValueError, match='mode'):
        model(inputs, mode='logits')
