import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from wsstool.apis import load_model_weights
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
    with torch.no_grad():
        torch.testing.assert_close(model.head_logits(inputs), head)
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
        # each image without the padding of the batch
        expected = [
            model.seg_logits(batch[:1, :, :30, :40])[0],
            F.interpolate(model.seg_logits(batch[1:, :, :36, :28]),
                          size=(45, 42), mode='bilinear',
                          align_corners=False)[0]
        ]
    for result, exp in zip(results, expected):
        seg_logits = result.seg_logits.data
        assert seg_logits.dtype == torch.float32
        torch.testing.assert_close(seg_logits, exp)
        pred = result.pred_sem_seg.data
        assert pred.dtype == torch.int64 and pred.shape == (1, *exp.shape[1:])
        assert torch.equal(pred[0], exp.argmax(dim=0))


def _padded_pair():
    """A padded batch of a 30 x 40 and a 36 x 28 image (the second
    flipped by the pipeline and resized from 45 x 42) and each image
    alone."""
    gen = torch.Generator().manual_seed(3)
    inputs = torch.zeros(2, 3, 36, 40)
    inputs[0, :, :30, :40] = torch.randn(3, 30, 40, generator=gen)
    inputs[1, :, :36, :28] = torch.randn(3, 36, 28, generator=gen)
    metas = [
        dict(img_shape=(30, 40), ori_shape=(30, 40)),
        dict(img_shape=(36, 28), ori_shape=(45, 42), flip=True,
             flip_direction='horizontal'),
    ]
    alone = [inputs[:1, :, :30, :40], inputs[1:, :, :36, :28]]
    return inputs, metas, alone


@pytest.mark.parametrize('fuse_at', ['input', 'head'])
def test_a_prediction_does_not_depend_on_its_batch(fuse_at):
    model = _model(test_cfg=dict(scales=(0.75, 1.0), flip=True,
                                 fuse_at=fuse_at))
    inputs, metas, alone = _padded_pair()
    with torch.no_grad():
        batched = model.predict(inputs, [_sample(**m) for m in metas])
        for image, meta, result in zip(alone, metas, batched):
            single = model.predict(image, [_sample(**meta)])[0]
            torch.testing.assert_close(result.seg_logits.data,
                                       single.seg_logits.data)
            assert result.seg_logits.shape == meta['ori_shape']


def _head_scale(model, image, scale):
    """Decode-head logits of ``image`` rescaled by ``scale``."""
    size = [round(side * scale) for side in image.shape[-2:]]
    resized = F.interpolate(image, size=size, mode='bilinear',
                            align_corners=False)
    return model.decode_head(model.backbone(resized))


@pytest.mark.parametrize('resize_to', [None, (40, 48)])
def test_head_fusion_matches_an_independent_computation(resize_to):
    """Max over the scales on the head grid of the unscaled image, then
    one resize to the original size (BECO/KTSE/SSC's multi-scale test)."""
    scales = (0.75, 1.0, 1.25)
    model = _model(test_cfg=dict(scales=scales, fusion='max',
                                 fuse_at='head', resize_to=resize_to))
    inputs, metas, alone = _padded_pair()
    with torch.no_grad():
        results = model.predict(inputs, [_sample(**m) for m in metas])
        input_fused = _model(test_cfg=dict(
            scales=scales, fusion='max', resize_to=resize_to)).predict(
                inputs, [_sample(**m) for m in metas])
        for image, meta, result, other in zip(alone, metas, results,
                                              input_fused):
            if resize_to is not None:
                image = F.interpolate(image, size=resize_to,
                                      mode='bilinear', align_corners=False)
            heads = [_head_scale(model, image, s) for s in scales]
            grid = heads[1].shape[-2:]
            fused = heads[1]
            for head in (heads[0], heads[2]):
                fused = torch.maximum(fused, F.interpolate(
                    head, size=grid, mode='bilinear', align_corners=False))
            if meta.get('flip'):
                fused = fused.flip(-1)
            expected = F.interpolate(fused, size=meta['ori_shape'],
                                     mode='bilinear', align_corners=False)
            torch.testing.assert_close(result.seg_logits.data, expected[0])
            # fused at the input size instead: different logits
            assert not torch.allclose(other.seg_logits.data, expected[0],
                                      atol=1e-3)


def test_constructor_checks():
    with pytest.raises(ValueError, match='conf_mask_mode'):
        _model(conf_mask_mode='weight')
    for ignore_index in (2, -1, 255.0):
        with pytest.raises(ValueError, match='ignore_index'):
            _model(ignore_index=ignore_index)
    assert _model(ignore_index=NUM_CLASSES).ignore_index == NUM_CLASSES
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


def test_two_network_beco_checkpoints_are_refused(tmp_path):
    own = _model().state_dict()
    released = {_beco_deeplabv2_keys(key): value for key, value in own.items()}
    checkpoint = dict(net_state_dict=dict(network1=released,
                                          network2=released))
    beco_state = {f'network{i}.{key}': value
                  for i in (1, 2) for key, value in own.items()}
    match = r'two networks \(network1, network2\); use a BECO config'
    for state_dict in (checkpoint, beco_state):
        with pytest.raises(ValueError, match=match):
            _model().load_state_dict(state_dict)
    for name, content in (('released.pth', checkpoint),
                          ('beco.pth', dict(state_dict=beco_state))):
        torch.save(content, tmp_path / name)
        with pytest.raises(ValueError, match=match):
            load_model_weights(_model(), str(tmp_path / name))


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
