import mmcv
import numpy as np
import pytest
import torch

from wsstool.models.refiners.dense_crf import DenseCRF
from wsstool.models.segmentors.base import BaseSegmentor
from wsstool.models.utils.crf_image import (mean_sub_uint8_wrap,
                                            read_crf_image)
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 3


class _FixedLogitSegmentor(BaseSegmentor):
    """Logits = a fixed (1, K, H, W) tensor, whatever the image."""

    num_classes = NUM_CLASSES

    def __init__(self, logits, **test_cfg):
        super().__init__(test_cfg=test_cfg)
        self.logits = logits

    def head_logits(self, inputs):
        return self.logits.expand(len(inputs), -1, -1, -1)

    def loss(self, inputs, data_samples):
        return dict(loss=inputs.sum())


def _two_region_image(tmp_path, height=24, width=32):
    """A dark left and a bright right half with noise, saved as PNG; returns
    (RGB uint8 image, path)."""
    rng = np.random.default_rng(0)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, width // 2:] = 200
    rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(
        np.uint8)
    path = str(tmp_path / 'image.png')
    mmcv.imwrite(rgb[..., ::-1], path)
    return rgb, path


def _uncertain_logits(height=24, width=32):
    gen = torch.Generator().manual_seed(0)
    return 0.5 * torch.randn(1, NUM_CLASSES, height, width, generator=gen)


def _sample(path=None, shape=(24, 32)):
    metainfo = dict(img_shape=shape, ori_shape=shape)
    if path is not None:
        metainfo['img_path'] = path
    return WSSSDataSample(metainfo=metainfo)


def test_mean_sub_uint8_wrap_by_hand():
    image = np.array([[[0, 0, 0], [255, 255, 255]],
                      [[123, 116, 104], [100, 50, 200]]], np.uint8)
    # (R - 122.675, G - 116.669, B - 104.008), truncated toward zero,
    # negative values wrapped modulo 256:
    # (0, 0, 0): (-122, -116, -104) -> (134, 140, 152)
    # (255, 255, 255): (132, 138, 150)
    # (123, 116, 104): (0.325, -0.669, -0.008) -> (0, 0, 0)
    # (100, 50, 200): (-22, -66, 95) -> (234, 190, 95)
    expected = np.array([[[134, 140, 152], [132, 138, 150]],
                         [[0, 0, 0], [234, 190, 95]]], np.uint8)
    corrupted = mean_sub_uint8_wrap(image)
    assert corrupted.dtype == np.uint8
    np.testing.assert_array_equal(corrupted, expected)


def test_read_crf_image(tmp_path):
    rgb, path = _two_region_image(tmp_path)
    np.testing.assert_array_equal(read_crf_image(_sample(path)), rgb)
    np.testing.assert_array_equal(
        read_crf_image(_sample(path), 'mean_sub_uint8_wrap'),
        mean_sub_uint8_wrap(rgb))
    with pytest.raises(ValueError, match='Model needs img_path'):
        read_crf_image(_sample(), owner='Model')
    with pytest.raises(ValueError, match='CRF image mode'):
        read_crf_image(_sample(path), 'bgr')
    broken = tmp_path / 'broken.png'
    broken.write_text('not an image')
    with pytest.raises(OSError, match='broken.png'):
        read_crf_image(_sample(str(broken)))


@pytest.mark.parametrize('crf_image', ['raw', 'mean_sub_uint8_wrap'])
def test_prediction_is_the_arg_max_of_the_crf(tmp_path, crf_image):
    rgb, path = _two_region_image(tmp_path)
    logits = _uncertain_logits()
    model = _FixedLogitSegmentor(
        logits,
        crf=dict(type='DenseCRF', preset='deeplab_beco'),
        crf_image=crf_image)
    result = model.predict(torch.zeros(1, 3, 24, 32), [_sample(path)])[0]
    # seg_logits are the logits before the CRF
    torch.testing.assert_close(result.seg_logits.data, logits[0])
    image = rgb if crf_image == 'raw' else mean_sub_uint8_wrap(rgb)
    probs = torch.softmax(logits[0], dim=0).numpy()
    marginals = DenseCRF('deeplab_beco')(image, probs)
    expected = torch.from_numpy(marginals.argmax(axis=0))
    pred = result.pred_sem_seg.data
    assert pred.dtype == torch.int64 and pred.shape == (1, 24, 32)
    assert torch.equal(pred[0], expected)
    assert not torch.equal(pred[0], logits[0].argmax(dim=0))


def test_crf_errors(tmp_path):
    _, path = _two_region_image(tmp_path)
    model = _FixedLogitSegmentor(
        _uncertain_logits(20, 32),
        crf=dict(type='DenseCRF', preset='deeplab_beco', num_iter=1))
    with pytest.raises(ValueError, match='image.png.*ori_shape'):
        model.predict(torch.zeros(1, 3, 20, 32), [_sample(path, (20, 32))])
    with pytest.raises(ValueError, match='needs img_path'):
        model.predict(torch.zeros(1, 3, 20, 32), [_sample(None, (20, 32))])
