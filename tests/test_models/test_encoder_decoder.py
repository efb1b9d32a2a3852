import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from wsstool.models.heads.aspp_v2_head import ASPPV2Head
from wsstool.models.segmentors.encoder_decoder import EncoderDecoder
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 4


def _model(**kwargs):
    """ResNet-18 at output stride 8 with a DeepLab-v2 ASPP classifier."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(
                type='ResNet',
                depth=18,
                strides=(1, 2, 1, 1),
                dilations=(1, 1, 2, 4),
                out_indices=(3, )),
            decode_head=dict(
                type='ASPPV2Head', in_channels=512, num_classes=NUM_CLASSES),
            **kwargs))
    return model.eval()


def _sample(label=None, conf=None, **metainfo):
    sample = WSSSDataSample(metainfo=metainfo)
    if label is not None:
        sample.gt_sem_seg = PixelData(data=label[None])
    if conf is not None:
        sample.conf_mask = PixelData(data=conf[None])
    return sample


def _labels(batch, height, width, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (batch, height, width),
                           generator=gen)
    labels[:, :3, :5] = 255
    return labels


def test_seg_logits_upsample_the_head_logits():
    model = _model()
    inputs = torch.randn(2, 3, 36, 44)
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        head = model.decode_head(model.backbone(inputs))
    assert head.shape == (2, NUM_CLASSES, 5, 6)
    assert logits.shape == (2, NUM_CLASSES, 36, 44)
    expected = F.interpolate(head, size=(36, 44), mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(logits, expected)
    assert isinstance(model, EncoderDecoder)
    assert isinstance(model.decode_head, ASPPV2Head)
    assert model.num_classes == NUM_CLASSES


def test_loss_equals_cross_entropy_over_non_ignored_pixels():
    model = _model()
    inputs = torch.randn(2, 3, 32, 32)
    labels = _labels(2, 32, 32)
    samples = [_sample(label, img_path=f'{i}.jpg')
               for i, label in enumerate(labels)]
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_ce'}
    with torch.no_grad():
        logits = model.seg_logits(inputs)
    expected = F.cross_entropy(logits, labels, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce'].detach(), expected)
    # the same written out: -log softmax at the label, mean over valid pixels
    log_probs = logits.log_softmax(dim=1)
    valid = labels != 255
    picked = log_probs.gather(1, labels.clamp(max=NUM_CLASSES - 1)[:, None])
    manual = -picked[:, 0][valid].sum() / valid.sum()
    torch.testing.assert_close(losses['loss_ce'].detach(), manual)
    losses['loss_ce'].backward()
    assert model.decode_head.aspp_modules[0].weight.grad.abs().sum() > 0


def test_loss_is_zero_with_a_graph_when_every_pixel_is_ignored():
    model = _model()
    inputs = torch.randn(1, 3, 32, 32)
    samples = [_sample(torch.full((32, 32), 255))]
    loss = model.loss(inputs, samples)['loss_ce']
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert model.decode_head.aspp_modules[0].weight.grad is not None


def test_conf_mask_mode_ignore_drops_non_confident_pixels():
    model = _model(conf_mask_mode='ignore')
    inputs = torch.randn(2, 3, 32, 32)
    labels = _labels(2, 32, 32)
    conf = torch.rand(2, 32, 32,
                      generator=torch.Generator().manual_seed(1)) > 0.5
    samples = [_sample(label, mask) for label, mask in zip(labels, conf)]
    loss = model.loss(inputs, samples)['loss_ce'].detach()
    with torch.no_grad():
        logits = model.seg_logits(inputs)
    expected = F.cross_entropy(
        logits, torch.where(conf, labels, 255), ignore_index=255)
    torch.testing.assert_close(loss, expected)
    assert not torch.allclose(
        loss, F.cross_entropy(logits, labels, ignore_index=255))
    # without conf_mask_mode the masks are not used
    plain = _model().loss(inputs, samples)['loss_ce'].detach()
    torch.testing.assert_close(
        plain, F.cross_entropy(logits, labels, ignore_index=255))

    samples[1] = _sample(labels[1], img_path='data/2007_000033.jpg')
    with pytest.raises(ValueError, match='2007_000033.jpg'):
        model.loss(inputs, samples)


def test_out_of_range_labels_name_the_image():
    model = _model()
    labels = _labels(2, 32, 32)
    labels[1, 4, 4] = NUM_CLASSES
    labels[1, 5, 5] = 254
    samples = [_sample(label, img_path=f'data/img_{i}.jpg')
               for i, label in enumerate(labels)]
    with pytest.raises(ValueError, match=r"img_1\.jpg.*\[4, 254\]"):
        model.loss(torch.randn(2, 3, 32, 32), samples)
    with pytest.raises(ValueError, match='no gt_sem_seg'):
        model.loss(torch.randn(1, 3, 32, 32), [_sample(img_path='a.jpg')])


def test_seg_targets_stacks_masks_only_when_every_sample_has_one():
    model = _model()
    labels = _labels(2, 8, 8)
    conf = torch.ones(8, 8, dtype=torch.bool)
    stacked, masks = model.seg_targets(
        [_sample(labels[0], conf), _sample(labels[1], conf)], 'cpu')
    assert torch.equal(stacked, labels) and stacked.dtype == torch.int64
    assert masks.shape == (2, 8, 8) and masks.dtype == torch.bool
    _, masks = model.seg_targets(
        [_sample(labels[0], conf), _sample(labels[1])], 'cpu')
    assert masks is None
    with pytest.raises(ValueError, match='sizes'):
        model.seg_targets([_sample(labels[0]), _sample(labels[1, :6])], 'cpu')


def test_predict_at_original_size_for_a_padded_batch_of_two_sizes():
    model = _model()
    images = [
        torch.randint(0, 256, (3, 30, 40), dtype=torch.uint8),
        torch.randint(0, 256, (3, 36, 28), dtype=torch.uint8)
    ]
    samples = [
        _sample(img_shape=(30, 40), ori_shape=(30, 40)),
        # resized by the pipeline from 45 x 42
        _sample(img_shape=(36, 28), ori_shape=(45, 42)),
    ]
    with torch.no_grad():
        results = model.test_step(dict(inputs=images, data_samples=samples))
        batch = model.data_preprocessor(dict(inputs=images))['inputs']
        assert batch.shape == (2, 3, 36, 40)
        logits = model.seg_logits(batch)
    expected = [
        logits[0, :, :30, :40],
        F.interpolate(logits[1:, :, :36, :28], size=(45, 42),
                      mode='bilinear', align_corners=False)[0]
    ]
    for result, exp in zip(results, expected):
        seg_logits = result.seg_logits.data
        assert seg_logits.dtype == torch.float32
        torch.testing.assert_close(seg_logits, exp)
        pred = result.pred_sem_seg.data
        assert pred.dtype == torch.int64 and pred.shape == (1, *exp.shape[1:])
        assert torch.equal(pred[0], exp.argmax(dim=0))


def test_constructor_checks():
    with pytest.raises(ValueError, match='conf_mask_mode'):
        _model(conf_mask_mode='weight')
    with pytest.raises(ValueError, match='ignore_index'):
        _model(ignore_index=2)
    with pytest.raises(ValueError, match="unknown keys \\['scale'\\]"):
        _model(test_cfg=dict(scale=(1.0, )))


def _beco_deeplabv2_keys(key):
    """The key of a released DeepLabV2 BECO network (KTSE/SSC) for a key of
    this model, as the checkpoint layout lists them."""
    for ours, theirs in (('backbone.conv1.', 'backbone.stem_layer.conv1.'),
                         ('backbone.bn1.', 'backbone.stem_layer.bn1.')):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    if key.startswith('decode_head.aspp_modules.'):
        branch, param = key[len('decode_head.aspp_modules.'):].split('.')
        return f'aspp.c{branch}.{param}'
    assert key.startswith('backbone.layer'), key
    return key


def test_released_network_and_own_checkpoints_load():
    source = _model()
    for param in source.parameters():
        param.data.uniform_(-1, 1)
    own = source.state_dict()
    released = {_beco_deeplabv2_keys(key): value for key, value in own.items()}
    assert 'aspp.c3.bias' in released
    assert 'backbone.stem_layer.bn1.running_var' in released
    for state_dict in (released, own,
                       {'module.' + k: v for k, v in own.items()}):
        target = _model()
        target.load_state_dict(state_dict)
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, own[key])
    with pytest.raises(KeyError, match='aspp.extra.weight'):
        _model().load_state_dict(
            dict(released, **{'aspp.extra.weight': torch.zeros(1)}))


def test_autocast_gives_float32_losses_and_logits():
    model = _model(test_cfg=dict(scales=(1.0, 0.75), flip=True))
    inputs = torch.randn(1, 3, 32, 32)
    samples = [_sample(_labels(1, 32, 32)[0],
                       img_shape=(32, 32), ori_shape=(32, 32))]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model.loss(inputs, samples)['loss_ce']
        results = model.predict(inputs, samples)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert results[0].seg_logits.data.dtype == torch.float32
    assert results[0].seg_logits.shape == (32, 32)
