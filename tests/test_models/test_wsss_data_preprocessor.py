import pytest
import torch
from mmengine.structures import PixelData

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def _sample(h, w, seed):
    gen = torch.Generator().manual_seed(seed)
    sample = WSSSDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    sample.gt_label = torch.tensor([1., 0., 1.])
    sample.gt_sem_seg = PixelData(
        data=torch.randint(0, 4, (1, h, w), generator=gen))
    sample.conf_mask = PixelData(data=torch.ones(1, h, w, dtype=torch.bool))
    sample.valid_mask = PixelData(data=torch.ones(1, h, w, dtype=torch.bool))
    sample.superpixel = PixelData(
        data=torch.arange(h * w, dtype=torch.int64).view(1, h, w))
    image = torch.randint(0, 256, (3, h, w), generator=gen,
                          dtype=torch.uint8)
    return image, sample


def test_normalises_bgr_to_rgb_and_pads_images_and_dense_fields():
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    (img_a, sample_a), (img_b, sample_b) = _sample(10, 14, 0), _sample(
        12, 9, 1)
    seg_b = sample_b.gt_sem_seg.data.clone()
    out = preprocessor(dict(inputs=[img_a, img_b],
                            data_samples=[sample_a, sample_b]), training=True)
    inputs, samples = out['inputs'], out['data_samples']
    assert inputs.shape == (2, 3, 12, 14) and inputs.dtype == torch.float32

    expected_b = (img_b.flip(0).float() - MEAN) / STD
    torch.testing.assert_close(inputs[1, :, :, :9], expected_b)
    assert torch.all(inputs[1, :, :, 9:] == 0)
    assert torch.all(inputs[0, :, 10:] == 0)

    for sample in samples:
        assert sample.gt_sem_seg.data.shape == (1, 12, 14)
        assert sample.conf_mask.data.dtype == torch.bool
    assert torch.equal(samples[1].gt_sem_seg.data[..., :9], seg_b)
    assert torch.all(samples[1].gt_sem_seg.data[..., 9:] == 255)
    assert torch.all(samples[0].gt_sem_seg.data[:, 10:] == 255)
    for field in ('conf_mask', 'valid_mask'):
        mask = getattr(samples[1], field).data
        assert mask[..., :9].all() and not mask[..., 9:].any()
    superpixel = samples[1].superpixel.data
    assert superpixel.shape == (1, 12, 14)
    assert torch.equal(superpixel[..., :9],
                       torch.arange(12 * 9).view(1, 12, 9))
    assert torch.all(superpixel[..., 9:] == -1)
    # labels and meta information pass through untouched
    assert torch.equal(samples[0].gt_label, torch.tensor([1., 0., 1.]))
    assert samples[0].img_shape == (10, 14)


def test_pad_size_divisor_and_missing_fields():
    preprocessor = MODELS.build(
        dict(type='WSSSDataPreprocessor', pad_size_divisor=8))
    image, sample = _sample(10, 14, 2)
    del sample.conf_mask
    out = preprocessor(dict(inputs=[image], data_samples=[sample]),
                       training=True)
    assert out['inputs'].shape == (1, 3, 16, 16)
    assert out['data_samples'][0].gt_sem_seg.data.shape == (1, 16, 16)
    assert 'conf_mask' not in out['data_samples'][0]


def test_without_data_samples():
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    image, _ = _sample(6, 5, 3)
    out = preprocessor(dict(inputs=[image]))
    assert out['data_samples'] is None
    torch.testing.assert_close(out['inputs'][0],
                               (image.flip(0).float() - MEAN) / STD)


def test_test_batches_keep_dense_fields_at_image_size():
    """Evaluation compares predictions at each image's own size."""
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    (img_a, sample_a), (img_b, sample_b) = _sample(10, 14, 0), _sample(
        12, 9, 1)
    out = preprocessor(
        dict(inputs=[img_a, img_b], data_samples=[sample_a, sample_b]))
    assert out['inputs'].shape == (2, 3, 12, 14)
    assert out['data_samples'][0].gt_sem_seg.data.shape == (1, 10, 14)
    assert out['data_samples'][1].gt_sem_seg.data.shape == (1, 12, 9)


def test_partner_batch_is_processed_like_the_anchor_batch():
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    (img_a, sample_a), (img_b, sample_b) = _sample(10, 14, 0), _sample(
        12, 9, 1)
    (img_p, sample_p), (img_q, sample_q) = _sample(8, 8, 2), _sample(
        6, 11, 3)
    seg_q = sample_q.gt_sem_seg.data.clone()
    out = preprocessor(
        dict(inputs=[img_a, img_b], data_samples=[sample_a, sample_b],
             partner_inputs=[img_p, img_q],
             partner_data_samples=[sample_p, sample_q]), training=True)
    assert set(out) == {'inputs', 'data_samples', 'partner_inputs',
                        'partner_data_samples'}
    assert out['inputs'].shape == (2, 3, 12, 14)
    # the partner batch is padded to its own largest size
    partner = out['partner_inputs']
    assert partner.shape == (2, 3, 8, 11) and partner.dtype == torch.float32
    torch.testing.assert_close(partner[1, :, :6],
                               (img_q.flip(0).float() - MEAN) / STD)
    assert torch.all(partner[1, :, 6:] == 0) and torch.all(
        partner[0, :, :, 8:] == 0)
    partner_samples = out['partner_data_samples']
    assert partner_samples[1].gt_sem_seg.data.shape == (1, 8, 11)
    assert torch.equal(partner_samples[1].gt_sem_seg.data[:, :6], seg_q)
    assert torch.all(partner_samples[1].gt_sem_seg.data[:, 6:] == 255)
    assert not partner_samples[0].valid_mask.data[..., 8:].any()


def test_partner_inputs_without_samples_and_samples_without_inputs():
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    image, sample = _sample(6, 5, 3)
    out = preprocessor(
        dict(inputs=[image], data_samples=[sample], partner_inputs=[image]))
    assert out['partner_data_samples'] is None
    torch.testing.assert_close(out['partner_inputs'], out['inputs'])
    with pytest.raises(KeyError, match='partner_inputs'):
        preprocessor(dict(inputs=[image], partner_data_samples=[sample]))
