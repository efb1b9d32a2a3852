"""BECO co-training: losses against an independent computation (mixing,
online labels, boundary band and the four losses written out with explicit
loops), epoch phases, input errors, inference and checkpoint loading."""
import copy
import itertools

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData
from torch import nn

import wsstool.models.heads.aspp_v2_head  # noqa: F401 (registers the head)
import wsstool.models.heads.sep_aspp_head  # noqa: F401 (registers the head)
from tests.test_models.test_beco_keys import (_deeplabv3plus_shapes,
                                              _random_state_dict)
from wsstool.apis import load_model_weights
from wsstool.models.segmentors import beco as beco_module
from wsstool.models.segmentors.beco import BECO
from wsstool.models.utils.batch_photometric import BatchPhotometricAug
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

IGNORE = 255
NUM_CLASSES = 5
SIZE = 32
CONF = 0.3  # online threshold reached by part of the pixels
NETWORK = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='ResNet',
        depth=18,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, )),
    decode_head=dict(
        type='ASPPV2Head', in_channels=512, num_classes=NUM_CLASSES))
# a tiny DeepLabV3+ (official BECO's architecture)
NETWORK_V3PLUS = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='ResNetV1d',
        depth=18,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        multi_grid=(1, 2),
        out_indices=(0, 3)),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=512,
        low_level_channels=64,
        channels=16,
        low_level_out_channels=8,
        num_classes=NUM_CLASSES))


@MODELS.register_module(name='BECOTestRecordingAug')
class RecordingAug(nn.Module):
    """Photometric stand-in: records its input and brightens by 10."""

    def forward(self, images):
        self.seen = images.clone()
        return images + 10


def _model(network=NETWORK, **kwargs):
    init_default_scope('wsstool')
    torch.manual_seed(0)
    kwargs.setdefault('photometric_aug', None)
    model = MODELS.build(dict(type='BECO', network=network, **kwargs))
    return model.train()


def _batch(batch=4, seed=0, with_conf=True):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, SIZE, SIZE, generator=generator)
    samples = []
    for index in range(batch):
        labels = torch.randint(
            0, NUM_CLASSES, (1, SIZE, SIZE), generator=generator)
        labels[:, :3, :5] = IGNORE  # ignored pixels, partly "confident"
        sample = WSSSDataSample(metainfo=dict(img_path=f'img{index}.jpg'))
        sample.gt_sem_seg = PixelData(data=labels)
        if with_conf:
            sample.conf_mask = PixelData(
                data=torch.rand(1, SIZE, SIZE, generator=generator) > 0.4)
        samples.append(sample)
    labels = torch.cat([s.gt_sem_seg.data for s in samples])
    conf = torch.cat([s.conf_mask.data for s in samples]) if with_conf \
        else None
    return inputs, samples, labels, conf


def _hand_made_alpha(batch):
    """A different rectangle per output sample; sample 1 gets none."""
    alpha = torch.zeros(batch, SIZE, SIZE, dtype=torch.bool)
    for j in range(batch):
        if j != 1:
            alpha[j, 2 * j + 2:2 * j + 14, 4:12 + 3 * j] = True
    return alpha


def _slot_pairs(batch):
    """(target, source) of each output slot, written out."""
    half = batch // 2
    pairs = []
    for i in range(half):
        pairs += [(i, i + half), (i + half, i)]
    return pairs


def _loop_band(alpha):
    """3x3 dilation minus erosion with explicit loops (image border
    neither dilates nor erodes)."""
    height, width = alpha.shape
    band = torch.zeros_like(alpha)
    for i, j in itertools.product(range(height), range(width)):
        window = alpha[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
        band[i, j] = bool(window.any()) and not bool(window.all())
    return band


@torch.no_grad()
def _online(reference, inputs, conf_thresh):
    """Online labels of the (unchanged) networks in eval mode."""
    reference.eval()
    logits = (reference.network1.seg_logits(inputs) +
              reference.network2.seg_logits(inputs)) / 2
    reference.train()
    probs = logits.softmax(dim=1)
    return probs.argmax(dim=1), probs.max(dim=1).values > conf_thresh


def _reference_batch(inputs, labels, conf, alpha, mixed, online=None,
                     valid=None):
    """Mixed images, labels, masks, boundary band and padding masks per
    output slot."""
    if valid is None:
        valid = torch.ones_like(conf)
    images, out_labels, out_conf, bands, out_valid = [], [], [], [], []
    for j, (t, s) in enumerate(_slot_pairs(len(inputs))):
        a = alpha[j] & bool(mixed[j])
        images.append(torch.where(a, inputs[s], inputs[t]))
        out_valid.append(torch.where(a, valid[s], valid[t]))
        if online is None or not mixed[j]:
            source_labels, target_labels = labels[s], labels[t]
            source_conf, target_conf = conf[s], conf[t]
        else:
            (source_labels, target_labels), (source_conf, target_conf) = (
                (online[0][s], online[0][t]), (online[1][s], online[1][t]))
        out_labels.append(torch.where(a, source_labels, target_labels))
        out_conf.append(torch.where(a, source_conf, target_conf))
        bands.append(_loop_band(a) if online is not None else
                     torch.zeros_like(a))
    return (torch.stack(images), torch.stack(out_labels),
            torch.stack(out_conf), torch.stack(bands), torch.stack(out_valid))


def _reference_losses(logits1, logits2, labels, conf, band, valid,
                      weight=0.2):
    """The four BECO losses with explicit per-pixel loops; padded pixels
    (``valid`` False) are skipped but counted."""
    logp1 = logits1.detach().log_softmax(dim=1).numpy()
    logp2 = logits2.detach().log_softmax(dim=1).numpy()
    labels, conf, band = labels.numpy(), conf.numpy(), band.numpy()
    batch, _, height, width = logp1.shape
    totals = np.zeros(4)
    for b, i, j in itertools.product(range(batch), range(height),
                                     range(width)):
        if not valid[b, i, j]:
            continue
        peer1 = int(np.argmax(logp2[b, :, i, j]))  # target of network 1
        peer2 = int(np.argmax(logp1[b, :, i, j]))
        m = float(conf[b, i, j])
        if labels[b, i, j] != IGNORE:
            w = m * (1 + weight * float(band[b, i, j]))
            totals[0] -= logp1[b, labels[b, i, j], i, j] * w
            totals[1] -= logp2[b, labels[b, i, j], i, j] * w
        totals[2] -= logp1[b, peer1, i, j] * (1 - m)
        totals[3] -= logp2[b, peer2, i, j] * (1 - m)
    return dict(zip(('loss_ce1', 'loss_ce2', 'loss_cot1', 'loss_cot2'),
                    totals / (batch * height * width)))


def _assert_losses_match(monkeypatch, model, phase, mix_prob, pattern,
                         batch_data, valid=None):
    """``model.loss`` equals the written-out mixing and losses; ``valid``:
    (B, H, W) padding masks of the samples (None: no padding)."""
    model.set_epoch(0 if phase == 'warmup' else 1)
    inputs, samples, labels, conf = batch_data
    batch = len(inputs)
    alpha = _hand_made_alpha(batch)
    drawn_from = []

    def fake_class_mask(source_labels, ignore_index, ignore_bg):
        assert ignore_index == IGNORE and ignore_bg
        drawn_from.append(source_labels.clone())
        return alpha

    monkeypatch.setattr(beco_module, 'random_class_mask', fake_class_mask)
    if pattern is not None:
        pairs = model._pairs
        monkeypatch.setattr(
            model, '_pairs',
            lambda x: (*pairs(x)[:2], torch.tensor(pattern)))
    mixed = pattern or [mix_prob == 1.0] * batch

    reference = copy.deepcopy(model)
    online = _online(reference, inputs,
                     CONF) if phase == 'online' else None
    losses = model.loss(inputs, samples)

    sources = [s for _, s in _slot_pairs(batch)]
    drawable = torch.ones_like(conf) if valid is None else valid
    if online is None:
        expected_sources = torch.where(drawable[sources], labels[sources],
                                       IGNORE)
    else:
        expected_sources = torch.where(
            online[1][sources] & drawable[sources], online[0][sources],
            IGNORE)
    assert torch.equal(drawn_from[0], expected_sources)
    images, mix_labels, mix_conf, band, mix_valid = _reference_batch(
        inputs, labels, conf, alpha, mixed, online, valid)
    if phase == 'online' and any(mixed):
        assert band.any()
    expected = _reference_losses(
        reference.network1.seg_logits(images),
        reference.network2.seg_logits(images), mix_labels, mix_conf, band,
        mix_valid)
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].shape == ()
        torch.testing.assert_close(
            losses[name].item(), float(value), rtol=1e-4, atol=1e-6)
    return losses


@pytest.mark.parametrize('phase, mix_prob, pattern', [
    ('warmup', 0.0, None),
    ('warmup', 1.0, None),
    ('online', 0.0, None),
    ('online', 1.0, None),
    ('online', 0.5, (True, False, False, True)),
])
def test_losses_match_an_independent_computation(monkeypatch, phase,
                                                 mix_prob, pattern):
    model = _model(mix_prob=mix_prob, warmup_epochs=1, conf_thresh=CONF)
    _assert_losses_match(monkeypatch, model, phase, mix_prob, pattern,
                         _batch())


def test_deeplabv3plus_losses_match_an_independent_computation(monkeypatch):
    network = copy.deepcopy(NETWORK_V3PLUS)
    network['decode_head']['dropout_ratio'] = 0.0  # deterministic
    model = _model(network=network, warmup_epochs=1, conf_thresh=CONF)
    _assert_losses_match(monkeypatch, model, 'online', 0.5,
                         (False, True, True, False), _batch())


def _padded_batch():
    """Four samples; samples 1 and 2 are 32 x 20 and padded to 32 x 32 by
    the data preprocessor (images 0 = mean colour, labels 255, conf_mask
    and valid_mask False)."""
    generator = torch.Generator().manual_seed(2)
    images, samples = [], []
    for index, width in enumerate((SIZE, 20, 20, SIZE)):
        images.append(torch.randint(0, 256, (3, SIZE, width),
                                    dtype=torch.uint8, generator=generator))
        sample = WSSSDataSample(metainfo=dict(img_path=f'img{index}.jpg'))
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, NUM_CLASSES, (1, SIZE, width), generator=generator))
        sample.conf_mask = PixelData(
            data=torch.rand(1, SIZE, width, generator=generator) > 0.4)
        sample.valid_mask = PixelData(
            data=torch.ones(1, SIZE, width, dtype=torch.bool))
        samples.append(sample)
    return images, samples


@pytest.mark.parametrize('phase', ['warmup', 'online'])
def test_padding_gets_no_loss(monkeypatch, phase):
    model = _model(mix_prob=0.5, warmup_epochs=1, conf_thresh=CONF)
    images, samples = _padded_batch()
    data = model.data_preprocessor(
        dict(inputs=images, data_samples=samples), training=True)
    inputs, samples = data['inputs'], data['data_samples']
    labels = torch.cat([s.gt_sem_seg.data for s in samples])
    conf = torch.cat([s.conf_mask.data for s in samples])
    valid = torch.cat([s.valid_mask.data for s in samples])
    assert inputs.shape == (4, 3, SIZE, SIZE)
    assert not valid[1:3, :, 20:].any() and valid[1:3, :, :20].all()
    # the batch padding is not confident: without valid_mask it would
    # get the co-training loss
    assert not conf[1:3, :, 20:].any()
    pattern = (True, True, False, True)
    losses = _assert_losses_match(monkeypatch, model, phase, 0.5, pattern,
                                  (inputs, samples, labels, conf), valid)

    for sample in samples:
        del sample.valid_mask
    unmasked = _model(mix_prob=0.5, warmup_epochs=1, conf_thresh=CONF)
    monkeypatch.setattr(unmasked, '_pairs', lambda x: (
        *beco_module.mix_pair_indices(len(x)), torch.tensor(pattern)))
    unmasked.set_epoch(model.epoch)
    padded = unmasked.loss(inputs, samples)
    assert padded['loss_cot1'] > losses['loss_cot1'] + 1e-4


def test_peer_targets_are_detached():
    model = _model()
    model.set_epoch(0)
    inputs, samples, _, _ = _batch()
    model.loss(inputs, samples)['loss_cot1'].backward()
    assert all(p.grad is None for p in model.network2.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.network1.parameters())


def test_photometric_aug_sees_denormalised_images():
    model = _model(mix_prob=0.0, photometric_aug=dict(
        type='BECOTestRecordingAug'))
    model.set_epoch(0)
    inputs, samples, _, _ = _batch()
    seen_by_network = []
    seg_logits = model.network1.seg_logits
    model.network1.seg_logits = lambda x: seen_by_network.append(x) or (
        seg_logits(x))
    model.loss(inputs, samples)
    mean = model.data_preprocessor.mean
    std = model.data_preprocessor.std
    targets = [t for t, _ in _slot_pairs(len(inputs))]
    torch.testing.assert_close(model.photometric_aug.seen,
                               inputs[targets] * std + mean)
    torch.testing.assert_close(seen_by_network[0],
                               inputs[targets] + 10 / std)


def test_photometric_aug_follows_the_online_pass():
    """The online labels come from the un-augmented batch; only the
    images the networks train on are augmented."""
    model = _model(mix_prob=0.0, photometric_aug=dict(
        type='BECOTestRecordingAug'))
    model.set_epoch(1)
    inputs, samples, _, _ = _batch()
    events = []
    for name, network in zip(('network1', 'network2'), model.networks):
        head_logits = network.head_logits

        def record(images, name=name, network=network,
                   head_logits=head_logits):
            mode = 'train' if network.training else 'eval'
            events.append((f'{name} {mode}', images.clone()))
            return head_logits(images)

        network.head_logits = record
    aug = model.photometric_aug.forward
    model.photometric_aug.forward = lambda images: events.append(
        ('aug', images.clone())) or aug(images)
    model.loss(inputs, samples)
    assert [event for event, _ in events] == [
        'network1 eval', 'network2 eval', 'aug', 'network1 train',
        'network2 train'
    ]
    mean = model.data_preprocessor.mean
    std = model.data_preprocessor.std
    targets = [t for t, _ in _slot_pairs(len(inputs))]
    for _, images in events[:2]:
        torch.testing.assert_close(images, inputs)
    torch.testing.assert_close(events[2][1], inputs[targets] * std + mean)
    for _, images in events[3:]:
        torch.testing.assert_close(images, inputs[targets] + 10 / std)


def test_deeplabv3plus_trains_after_the_warmup():
    model = _model(network=NETWORK_V3PLUS, warmup_epochs=1,
                   photometric_aug=dict(type='BatchPhotometricAug'))
    model.set_epoch(1)
    inputs, samples, _, _ = _batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_ce1', 'loss_ce2', 'loss_cot1', 'loss_cot2'}
    assert all(torch.isfinite(value) and value > 0
               for value in losses.values())
    sum(losses.values()).backward()
    for network in model.networks:
        assert network.decode_head.conv_seg.weight.grad.abs().sum() > 0
        assert network.decode_head.c1_bottleneck.conv.weight.grad.abs(
        ).sum() > 0
        assert network.backbone.stem[0].conv.weight.grad.abs().sum() > 0
    optimizer.step()
    after = model.state_dict()
    for name in ('network1.decode_head.conv_seg.weight',
                 'network2.backbone.layer4.1.conv2.weight'):
        assert not torch.equal(after[name], before[name]), name


def test_default_photometric_aug_is_built():
    init_default_scope('wsstool')
    model = MODELS.build(dict(type='BECO', network=NETWORK))
    assert isinstance(model.photometric_aug, BatchPhotometricAug)
    model.set_epoch(0)
    inputs, samples, _, _ = _batch()
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())


def test_losses_under_autocast_are_float32():
    model = _model(photometric_aug=dict(type='BatchPhotometricAug'))
    model.set_epoch(1)
    inputs, samples, _, _ = _batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, samples)
    for value in losses.values():
        assert value.dtype == torch.float32 and torch.isfinite(value)


def test_set_epoch_switches_phases_without_own_state(monkeypatch):
    model = _model(warmup_epochs=2)
    inputs, samples, _, _ = _batch()
    with pytest.raises(RuntimeError, match='TrainEpochHook'):
        model.loss(inputs, samples)
    calls = []
    online_targets = model.online_targets
    monkeypatch.setattr(model, 'online_targets',
                        lambda x: calls.append(1) or online_targets(x))
    for epoch, online in ((0, False), (1, False), (2, True), (5, True),
                          (0, False)):
        calls.clear()
        model.set_epoch(epoch)  # e.g. the resumed epoch from the hook
        model.loss(inputs, samples)
        assert bool(calls) == online, epoch


def test_online_pass_restores_each_training_mode():
    model = _model()
    model.network2.eval()
    model.set_epoch(1)
    inputs, samples, _, _ = _batch()
    model.loss(inputs, samples)
    assert model.network1.training and not model.network2.training
    assert model.network1.backbone.bn1.training


def test_odd_batch_is_rejected():
    model = _model()
    model.set_epoch(0)
    inputs, samples, _, _ = _batch(batch=3)
    with pytest.raises(ValueError, match='even'):
        model.loss(inputs, samples)


def test_missing_conf_mask_names_the_sample():
    model = _model()
    model.set_epoch(0)
    inputs, samples, _, _ = _batch()
    del samples[2].conf_mask
    with pytest.raises(ValueError, match='img2.jpg'):
        model.loss(inputs, samples)


@pytest.mark.parametrize('kwargs, match', [
    (dict(mix_prob=1.5), 'mix_prob'),
    (dict(warmup_epochs=-1), 'warmup_epochs'),
    (dict(ignore_index=3), 'ignore_index'),
    (dict(ignore_index=-1), 'ignore_index'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_inference_averages_both_networks():
    model = _model().eval()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        expected = (model.network1.seg_logits(inputs) +
                    model.network2.seg_logits(inputs)) / 2
        head = (model.network1.head_logits(inputs) +
                model.network2.head_logits(inputs)) / 2
        results = model(inputs, mode='predict')
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(model.head_logits(inputs), head)
    assert head.shape == (2, NUM_CLASSES, SIZE // 8, SIZE // 8)
    assert logits.shape == (2, NUM_CLASSES, SIZE, SIZE)
    assert results[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)


def _bn(prefix, channels, counter=True):
    entries = {
        f'{prefix}.weight': (channels, ),
        f'{prefix}.bias': (channels, ),
        f'{prefix}.running_mean': (channels, ),
        f'{prefix}.running_var': (channels, ),
    }
    if counter:
        entries[f'{prefix}.num_batches_tracked'] = ()
    return entries


def _released_network_shapes(num_classes, counter=True):
    """Keys and shapes of one DeepLabV2 network of a released checkpoint
    (data-and-formats.md section 5.4) for a ResNet-18-sized backbone."""
    shapes = {'backbone.stem_layer.conv1.weight': (64, 3, 7, 7)}
    shapes.update(_bn('backbone.stem_layer.bn1', 64, counter))
    in_channels = 64
    for layer, channels in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            prefix = f'backbone.layer{layer}.{block}'
            block_in = in_channels if block == 0 else channels
            shapes[f'{prefix}.conv1.weight'] = (channels, block_in, 3, 3)
            shapes.update(_bn(f'{prefix}.bn1', channels, counter))
            shapes[f'{prefix}.conv2.weight'] = (channels, channels, 3, 3)
            shapes.update(_bn(f'{prefix}.bn2', channels, counter))
            if block_in != channels:
                shapes[f'{prefix}.downsample.0.weight'] = (channels,
                                                           block_in, 1, 1)
                shapes.update(_bn(f'{prefix}.downsample.1', channels,
                                  counter))
        in_channels = channels
    for branch in range(4):
        shapes[f'aspp.c{branch}.weight'] = (num_classes, 512, 3, 3)
        shapes[f'aspp.c{branch}.bias'] = (num_classes, )
    return shapes


def _released_checkpoint(num_classes=NUM_CLASSES):
    generator = torch.Generator().manual_seed(1)
    networks = {}
    for name, counter in (('network1', True), ('network2', False)):
        networks[name] = {
            key: (torch.tensor(7) if key.endswith('num_batches_tracked') else
                  torch.rand(shape, generator=generator) + 0.1)
            for key, shape in _released_network_shapes(
                num_classes, counter).items()
        }
    return {'net_state_dict': networks}


def _check_released_weights(model, checkpoint):
    for name in ('network1', 'network2'):
        source = checkpoint['net_state_dict'][name]
        network = getattr(model, name)
        torch.testing.assert_close(network.backbone.conv1.weight,
                                   source['backbone.stem_layer.conv1.weight'])
        torch.testing.assert_close(
            network.backbone.layer3[0].downsample[1].running_var,
            source['backbone.layer3.0.downsample.1.running_var'])
        torch.testing.assert_close(network.decode_head.aspp_modules[2].bias,
                                   source['aspp.c2.bias'])


def test_released_checkpoint_loads_strictly_with_load_model_weights(tmp_path):
    checkpoint = _released_checkpoint()
    path = tmp_path / 'best_ckpt.pth'
    torch.save(checkpoint, path)
    model = _model()
    load_model_weights(model, str(path), strict=True)
    _check_released_weights(model, checkpoint)


def test_released_checkpoint_loads_through_mmengine_and_torch(tmp_path):
    checkpoint = _released_checkpoint()
    path = tmp_path / 'best_ckpt.pth'
    torch.save(checkpoint, path)
    model = _model()
    load_checkpoint(model, str(path), strict=True)  # runner's load_from
    _check_released_weights(model, checkpoint)
    other = _model()
    other.load_state_dict(checkpoint, strict=True)
    _check_released_weights(other, checkpoint)


def test_released_checkpoint_with_other_classes_names_the_file(tmp_path):
    path = tmp_path / 'voc_ckpt.pth'
    torch.save(_released_checkpoint(num_classes=21), path)
    with pytest.raises(ValueError, match='voc_ckpt.pth'):
        load_model_weights(_model(), str(path))


def test_own_mmengine_checkpoint_round_trips(tmp_path):
    source = _model()
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': source.state_dict(), 'meta': {}}, path)
    torch.manual_seed(5)
    target = MODELS.build(dict(type='BECO', network=NETWORK))
    load_model_weights(target, str(path), strict=True)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_beco_is_registered():
    init_default_scope('wsstool')
    assert MODELS.get('BECO') is BECO


def test_released_deeplabv3plus_checkpoint_round_trips(tmp_path):
    """A released official-BECO layout (data-and-formats section 5.4),
    here for the tiny DeepLabV3+, loads strictly into BECO; the model's
    own checkpoint then gives the same weights."""
    shapes = _deeplabv3plus_shapes(channels=16, low_out=8)
    network1 = _random_state_dict(shapes, counters=True)
    network2 = {key: value + 1 if value.is_floating_point() else value
                for key, value in network1.items()}
    path = tmp_path / 'best_ckpt.pth'
    torch.save({'net_state_dict': dict(network1=network1,
                                       network2=network2)}, path)
    network = copy.deepcopy(NETWORK_V3PLUS)
    network['decode_head']['num_classes'] = 21  # that of the key builder
    model = _model(network=network)
    load_model_weights(model, str(path), strict=True)
    pairs = {
        'backbone.stem.1.bn.running_var': 'backbone.stem_layer.bn2.'
        'running_var',
        'backbone.layer2.0.downsample.1.weight':
        'backbone.layer2.0.downsample.1.weight',
        'decode_head.aspp_modules.1.depthwise_conv.conv.weight':
        'aspp.convs.1.convs.0.weight',
        'decode_head.image_pool.1.conv.weight': 'aspp.convs.4.convs.1.weight',
        'decode_head.c1_bottleneck.bn.bias': 'projector.1.bias',
        'decode_head.conv_seg.weight': 'classifier.weight',
    }
    for name, source in (('network1', network1), ('network2', network2)):
        state = getattr(model, name).state_dict()
        assert len(state) == len(source)
        for ours, theirs in pairs.items():
            assert torch.equal(state[ours], source[theirs]), (name, ours)

    own = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, own)
    target = _model(network=network)
    load_model_weights(target, str(own), strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
