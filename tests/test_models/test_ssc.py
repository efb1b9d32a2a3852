"""SSC: DRS backbone, reconstruction decoder, perceptual loss, the method's
loss terms and its training step with one or several optimisers."""
import copy
import statistics

import pytest
import torch
import torch.nn.functional as F
import torchvision
from mmengine.optim import (AmpOptimWrapper, OptimWrapper, OptimWrapperDict,
                            build_optim_wrapper)
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from wsstool.engine.optimizers.multi_optim_wrapper_constructor import \
    MultiOptimWrapperConstructor
from wsstool.models.backbones.drs_resnet import (
    DRS, DRSResNet, discriminative_region_suppression)
from wsstool.models.backbones.resnet import ResNet
from wsstool.models.heads.cam_reconstruction_decoder import (
    CAMReconstructionDecoder, SampleLayerNorm)
from wsstool.models.losses.perceptual_loss import PerceptualLoss
from wsstool.models.losses.superpixel_alignment_loss import \
    SuperpixelAlignmentLoss
from wsstool.models.methods.ssc import SSC
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 3
SIZE = 32


def _hand_drs(x: torch.Tensor, delta: float) -> torch.Tensor:
    """DRS with explicit loops: clip each rectified map at delta x max."""
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            rect = x[b, c].clamp(min=0)
            cap = delta * rect.max()
            out[b, c] = torch.where(rect > cap, cap, rect)
    return out


# --------------------------------------------------------------- DRS ----
def test_drs_matches_a_hand_computation():
    x = torch.tensor([[[[-1.0, 2.0], [4.0, 1.0]], [[-3.0, -1.0], [0.5,
                                                                   0.25]]]])
    # channel 0: max 4 -> cap 2.2; channel 1: max 0.5 -> cap 0.275
    expected = torch.tensor([[[[0.0, 2.0], [2.2, 1.0]],
                              [[0.0, 0.0], [0.275, 0.25]]]])
    torch.testing.assert_close(discriminative_region_suppression(x, 0.55),
                               expected)
    torch.testing.assert_close(DRS(0.55)(x), expected)
    with pytest.raises(ValueError, match='delta'):
        DRS(1.5)


def test_drs_gradient_reaches_the_maximum():
    x = torch.tensor([[[[1.0, 4.0]]]], requires_grad=True)
    discriminative_region_suppression(x, 0.5).sum().backward()
    # out = [min(1, 2), min(4, 2)] = [x0, 0.5 * x1]
    torch.testing.assert_close(x.grad, torch.tensor([[[[1.0, 0.5]]]]))


def _drs_resnet(**kwargs) -> DRSResNet:
    torch.manual_seed(0)
    return DRSResNet(depth=18, strides=(1, 2, 2, 1), out_indices=(1, 3),
                     **kwargs)


def test_drs_resnet_loads_a_torchvision_state_dict_strictly():
    model = _drs_resnet()
    state_dict = torchvision.models.resnet18(weights=None).state_dict()
    state_dict = {k: v for k, v in state_dict.items()
                  if not k.startswith('fc.')}
    model.load_state_dict(state_dict, strict=True)
    assert set(model.state_dict()) == set(ResNet(depth=18).state_dict())


def _reference_forward(net: ResNet, x: torch.Tensor, layer2_drs: bool,
                       delta: float):
    """The SSC network written out stage by stage with :func:`_hand_drs`."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    x = net.layer2(net.layer1(x))
    if layer2_drs:
        x = _hand_drs(x, delta)
    layer2 = x
    x = net.layer3(x)
    for block in net.layer4:
        x = _hand_drs(block(x), delta)
    return layer2, x


@pytest.mark.parametrize('at_test', [False, True])
def test_drs_resnet_suppresses_layer2_in_training_and_layer4_always(at_test):
    model = _drs_resnet(delta=0.4, output_drs_at_test=at_test)
    plain = ResNet(depth=18, strides=(1, 2, 2, 1))
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 40, 48)
    for training in (True, False):
        model.train(training)
        plain.train(training)
        with torch.no_grad():
            outs = model(x)
            expected = _reference_forward(plain, x, training or at_test, 0.4)
        for out, ref in zip(outs, expected):
            torch.testing.assert_close(out, ref)
    # without DRS the layer4 output would differ: the hook is effective
    with torch.no_grad():
        assert not torch.allclose(model(x)[1], plain(x)[0])


def test_drs_resnet_stage_options():
    model = _drs_resnet(block_drs_stages=(), output_drs_stages=())
    plain = ResNet(depth=18, strides=(1, 2, 2, 1), out_indices=(1, 3))
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    model.train()
    plain.train()
    for out, ref in zip(model(x), plain(x)):
        torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match='block_drs_stages'):
        _drs_resnet(block_drs_stages=(4, ))


@pytest.mark.parametrize('kwargs, match', [
    (dict(block_drs_stages=(3, 3)), r'block_drs_stages=\(3, 3\).*repeated'),
    (dict(output_drs_stages=(1, 2, 1)), 'output_drs_stages.*repeated'),
    (dict(block_drs_stages=(2, 3), output_drs_stages=(1, 3)),
     r'stages \[3\] are in both'),
    (dict(output_drs_at_test=1), 'output_drs_at_test.*got 1'),
    (dict(delta=True), 'delta=True'),
    (dict(delta=0), 'delta=0'),
])
def test_drs_resnet_rejects_double_suppression_and_bad_options(
        kwargs, match):
    with pytest.raises(ValueError, match=match):
        _drs_resnet(**kwargs)


def test_drs_resnet_applies_its_drs_module_once_per_stage():
    model = _drs_resnet(delta=0.5)
    assert isinstance(model.drs, DRS) and model.drs.delta == 0.5
    calls = []
    model.drs.register_forward_hook(lambda *args: calls.append(1))
    model.train()
    model(torch.randn(1, 3, 32, 32))
    # the layer2 output and each of the 2 layer4 blocks of a ResNet-18
    assert len(calls) == 3


# ----------------------------------------------------------- decoder ----
def test_sample_layer_norm_against_statistics():
    norm = SampleLayerNorm(2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([2.0, 0.5]))
        norm.bias.copy_(torch.tensor([1.0, -1.0]))
    x = torch.randn(2, 2, 3, 3)
    out = norm(x)
    for b in range(2):
        values = x[b].flatten().tolist()
        mean, std = statistics.mean(values), statistics.stdev(values)
        for c, (w, bias) in enumerate(((2.0, 1.0), (0.5, -1.0))):
            expected = (x[b, c] - mean) / (std + 1e-5) * w + bias
            torch.testing.assert_close(out[b, c], expected)


def test_decoder_upsamples_by_two_per_stage_into_tanh_range():
    torch.manual_seed(0)
    decoder = CAMReconstructionDecoder(
        in_channels=5, channels=(16, 8, 8, 4, 4), num_res_blocks=2)
    assert decoder.upsample_factor == 16
    out = decoder(torch.randn(2, 5, 3, 4) * 10)
    assert out.shape == (2, 3, 48, 64)
    assert out.abs().max() < 1
    assert CAMReconstructionDecoder(5, channels=(8, 4))(
        torch.randn(1, 5, 2, 2)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match=r'\(B, 5, h, w\)'):
        decoder(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match='channels'):
        CAMReconstructionDecoder(5, channels=())


# --------------------------------------------------- perceptual loss ----
# torchvision VGG-19 ``features`` indices of the convolutions up to conv5_1
# and the number of convolutions after which a 2x2 max-pool follows.
VGG_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)
VGG_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512)
POOL_AFTER = (2, 4, 8, 12)
FEATURE_AFTER = (1, 3, 5, 9, 13)  # relu1_1, relu2_1, ... relu5_1


@pytest.fixture(scope='module')
def fake_vgg_file(tmp_path_factory):
    """Random VGG-19 weights in the torchvision layout, with keys beyond
    relu5_1 that must be ignored."""
    generator = torch.Generator().manual_seed(0)
    state_dict, in_channels = {}, 3
    for index, width in zip(VGG_CONVS, VGG_WIDTHS):
        std = (2.0 / (9 * in_channels))**0.5
        state_dict[f'features.{index}.weight'] = torch.randn(
            width, in_channels, 3, 3, generator=generator) * std
        state_dict[f'features.{index}.bias'] = torch.randn(
            width, generator=generator) * 0.01
        in_channels = width
    state_dict['features.30.weight'] = torch.zeros(1)
    state_dict['classifier.0.weight'] = torch.zeros(1)
    path = tmp_path_factory.mktemp('vgg') / 'vgg19.pth'
    torch.save(state_dict, path)
    return str(path), state_dict


def _vgg_features_by_hand(x, state_dict):
    """relu1_1 ... relu5_1 with functional convolutions and pools."""
    feats = []
    for count, index in enumerate(VGG_CONVS, start=1):
        x = F.relu(F.conv2d(x, state_dict[f'features.{index}.weight'],
                            state_dict[f'features.{index}.bias'], padding=1))
        if count in FEATURE_AFTER:
            feats.append(x)
        if count in POOL_AFTER:
            x = F.max_pool2d(x, 2)
    return feats


def test_perceptual_loss_matches_an_independent_vgg(fake_vgg_file):
    path, state_dict = fake_vgg_file
    loss = PerceptualLoss(checkpoint=path, loss_weight=2.0)
    pred = torch.randn(2, 3, 32, 32, requires_grad=True)
    target = torch.randn(2, 3, 32, 32)
    value = loss(pred, target)
    weights = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    expected = 2.0 * sum(
        w * (a - b).abs().mean() for w, a, b in zip(
            weights, _vgg_features_by_hand(pred, state_dict),
            _vgg_features_by_hand(target, state_dict)))
    torch.testing.assert_close(value, expected)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in loss.vgg.parameters())


def test_perceptual_loss_missing_file_is_named(tmp_path):
    missing = str(tmp_path / 'vgg19-dcbb9e9d.pth')
    loss = PerceptualLoss(checkpoint=missing)  # building needs no file
    with pytest.raises(FileNotFoundError, match='vgg19-dcbb9e9d.pth'):
        loss.init_weights()
    with pytest.raises(FileNotFoundError, match='vgg19-dcbb9e9d.pth'):
        loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_perceptual_loss_pixel_fallback():
    loss = PerceptualLoss(checkpoint=None, loss_weight=0.5)
    pred = torch.tensor([[[[0.5, -1.0]]]]).expand(1, 3, 1, 2)
    target = torch.tensor([[[[1.0, 1.0]]]]).expand(1, 3, 1, 2)
    # |0.5 - 1| = 0.5 and |-1 - 1| = 2 on every channel: mean 1.25
    torch.testing.assert_close(loss(pred, target), torch.tensor(0.625))
    assert loss.vgg is None
    with pytest.raises(ValueError, match='same'):
        loss(pred, target[..., :1])


def test_perceptual_vgg_stays_out_of_the_state_dict_and_follows_to(
        fake_vgg_file):
    model = _ssc(loss_per=dict(type='PerceptualLoss',
                               checkpoint=fake_vgg_file[0]))
    names = list(model.state_dict()) + [n for n, _ in
                                        model.named_parameters()]
    assert not any('vgg' in n or n.startswith('loss_per') for n in names)
    model.init_weights()
    assert model.loss_per.weights_loaded
    model.train()
    assert not model.loss_per.vgg.training
    model.to(torch.float64)
    assert model.loss_per.vgg[0].weight.dtype == torch.float64
    torch.testing.assert_close(
        model.loss_per.vgg[0].weight,
        fake_vgg_file[1]['features.0.weight'].double())


# ---------------------------------------------------------------- SSC ----
def _ssc(**kwargs) -> SSC:
    init_default_scope('wsstool')
    cfg = dict(
        type='SSC',
        backbone=dict(type='DRSResNet', depth=18, strides=(1, 2, 2, 1),
                      dilations=(1, 1, 1, 2)),
        head=dict(type='CAMHead', in_channels=512, num_classes=NUM_CLASSES),
        decoder=dict(type='CAMReconstructionDecoder',
                     channels=(8, 8, 8, 4, 4)),
        loss_per=dict(type='PerceptualLoss', checkpoint=None),
        loss_align=dict(type='SuperpixelAlignmentLoss', erode_size=2),
        align_start_epoch=1)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg).train()


LABELS = torch.tensor([[1.0, 0, 1], [0, 1, 0]])


def _samples() -> list:
    """Two samples with labels, 4 x 4 blocks of superpixels and a padded
    right column."""
    samples = []
    block = torch.arange(16).reshape(4, 4).repeat_interleave(
        SIZE // 4, 0).repeat_interleave(SIZE // 4, 1)
    for index, label in enumerate(LABELS):
        sample = WSSSDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        sample.gt_label = label
        sample.superpixel = PixelData(data=(block + 100 * index)[None])
        valid = torch.ones(1, SIZE, SIZE, dtype=torch.bool)
        valid[..., -4:] = False
        sample.valid_mask = PixelData(data=valid)
        samples.append(sample)
    return samples


def test_ssc_loss_terms_before_and_after_the_alignment_start():
    model = _ssc()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    samples = _samples()
    with pytest.raises(RuntimeError, match='TrainEpochHook'):
        model.loss(inputs, samples)
    model.set_epoch(0)
    before = model.loss(inputs, samples)
    assert set(before) == {'loss_cls', 'loss_per'}
    model.set_epoch(1)
    after = model.loss(inputs, samples)
    assert set(after) == {'loss_cls', 'loss_per', 'loss_align'}

    cam = model.head.cam_and_logits(model.extract_feat(inputs))[0]
    torch.testing.assert_close(
        after['loss_cls'],
        F.multilabel_soft_margin_loss(cam.mean(dim=(2, 3)), LABELS))
    # 2 x 2 class maps, x16 decoder: the input size, no resizing
    recon = model.decoder(cam)
    assert recon.shape == inputs.shape
    torch.testing.assert_close(after['loss_per'],
                               (recon - inputs).abs().mean())
    superpixels = torch.stack([s.superpixel.data[0] for s in samples])
    superpixels[..., -4:] = -1
    torch.testing.assert_close(
        after['loss_align'],
        SuperpixelAlignmentLoss(erode_size=2)(cam, LABELS, superpixels))
    after['loss_align'].backward()
    assert model.backbone.layer4[0].conv1.weight.grad.abs().sum() > 0


def test_ssc_hands_its_view_to_auxiliary_losses(monkeypatch):
    model = _ssc(aux_losses=[
        dict(type='PixelPrototypeContrast', in_channels=512,
             proj_channels=8, view_size=(32, 32))
    ])
    model.set_epoch(1)
    aux = model.aux_losses[0]
    seen = []

    def spy(host, inputs, labels, views):
        seen.append(views)
        return type(aux).forward(aux, host, inputs, labels, views)

    monkeypatch.setattr(aux, 'forward', spy)
    inputs = torch.randn(2, 3, SIZE, SIZE)
    losses = model.loss(inputs, _samples())
    assert set(losses) == {'loss_cls', 'loss_per', 'loss_align',
                           'loss_cross', 'loss_cross2', 'loss_intra'}
    (view, second), = seen
    assert second is None
    feats = model.extract_feat(inputs)
    torch.testing.assert_close(view.feats, feats[-1])
    torch.testing.assert_close(view.cam,
                               model.head.cam_and_logits(feats)[0])


def test_ssc_missing_superpixels_fail_at_the_first_step():
    model = _ssc(align_start_epoch=1)
    model.set_epoch(0)  # before the alignment starts
    samples = _samples()
    del samples[1].superpixel
    with pytest.raises(ValueError, match='no superpixel.*ComputeSuperpixels'):
        model.loss(torch.randn(2, 3, SIZE, SIZE), samples)


def test_ssc_tanh_range_target_and_bad_arguments():
    model = _ssc(
        perceptual_target='tanh_range',
        data_preprocessor=dict(
            type='WSSSDataPreprocessor', mean=[100.0, 120.0, 140.0],
            std=[50.0, 60.0, 70.0]))
    inputs = torch.randn(1, 3, 2, 2)
    pixels = inputs * torch.tensor([50.0, 60.0, 70.0])[:, None, None] + \
        torch.tensor([100.0, 120.0, 140.0])[:, None, None]
    torch.testing.assert_close(
        model.reconstruction_target(inputs), pixels / 255 * 2 - 1)
    with pytest.raises(ValueError, match='perceptual_target'):
        _ssc(perceptual_target='unit')
    with pytest.raises(ValueError, match='num_classes'):
        _ssc(decoder=dict(type='CAMReconstructionDecoder', in_channels=20))
    with pytest.raises(ValueError, match='align_start_epoch'):
        _ssc(align_start_epoch=-1)
    with pytest.raises(ValueError, match='tanh_range.*mean and std'):
        _ssc(perceptual_target='tanh_range',
             data_preprocessor=dict(type='WSSSDataPreprocessor', mean=None,
                                    std=None))


def test_ssc_reconstruction_is_resized_to_odd_inputs():
    model = _ssc(align_start_epoch=0)
    inputs = torch.randn(2, 3, 36, 30)
    losses = model.loss(inputs, [
        WSSSDataSample(gt_label=label,
                       superpixel=PixelData(
                           data=torch.zeros(1, 36, 30, dtype=torch.long)))
        for label in LABELS
    ])
    assert set(losses) == {'loss_cls', 'loss_per', 'loss_align'}
    # 3 x 2 class maps (36 / 16 and 30 / 16 rounded up) decode to 48 x 32
    cam = model.head.cam_and_logits(model.extract_feat(inputs))[0]
    recon = model.decoder(cam)
    assert recon.shape == (2, 3, 48, 32)
    resized = F.interpolate(recon, size=(36, 30), mode='bilinear',
                            align_corners=False)
    torch.testing.assert_close(losses['loss_per'],
                               (resized - inputs).abs().mean())


def _data() -> dict:
    generator = torch.Generator().manual_seed(2)
    images = [
        torch.randint(0, 256, (3, SIZE, SIZE), generator=generator,
                      dtype=torch.uint8) for _ in range(2)
    ]
    return dict(inputs=images, data_samples=_samples())


def _grads(model: SSC) -> dict:
    """Gradients of one loss evaluation of a copy of ``model``."""
    model = copy.deepcopy(model)
    data = model.data_preprocessor(_data(), True)
    losses = model(**data, mode='loss')
    model.parse_losses(losses)[0].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()
            if p.grad is not None}


def test_train_step_with_one_optimiser_updates_every_part():
    model = _ssc()
    model.set_epoch(1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    grads = _grads(model)
    log_vars = model.train_step(_data(), wrapper)
    assert {'loss', 'loss_cls', 'loss_per', 'loss_align'} <= set(log_vars)
    for name, param in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(param, before[name] - 0.1 *
                                       grads[name])
    assert any(n.startswith('decoder.') for n in grads)


def _multi_wrapper(model: SSC) -> OptimWrapperDict:
    sgd = dict(type='SGD', lr=0.1)
    return build_optim_wrapper(
        model,
        dict(constructor='MultiOptimWrapperConstructor',
             backbone=dict(optimizer=sgd),
             head=dict(optimizer=dict(sgd, lr=1.0)),
             decoder=dict(optimizer=dict(type='Adam', lr=5e-4,
                                         betas=(0.5, 0.999)))))


def test_train_step_with_an_optim_wrapper_dict():
    model = _ssc()
    model.set_epoch(1)
    wrappers = _multi_wrapper(model)
    assert isinstance(wrappers, OptimWrapperDict)
    assert isinstance(wrappers['decoder'].optimizer, torch.optim.Adam)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = _grads(model)
    model.train_step(_data(), wrappers)
    for name, param in model.named_parameters():
        if name not in grads:
            torch.testing.assert_close(param, before[name])
            continue
        grad = grads[name]
        if name.startswith('decoder.'):
            # first Adam step: lr * m_hat / (sqrt(v_hat) + eps)
            step = 5e-4 * grad / (grad.abs() + 1e-8)
        else:
            step = (1.0 if name.startswith('head.') else 0.1) * grad
        torch.testing.assert_close(param, before[name] - step,
                                   rtol=1e-4, atol=1e-6)
    for wrapper in wrappers.values():
        assert all(p.grad is None or not p.grad.any()
                   for group in wrapper.param_groups
                   for p in group['params'])


def test_train_step_rejects_amp_in_an_optim_wrapper_dict(monkeypatch):
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    model = _ssc()
    wrappers = OptimWrapperDict(
        backbone=AmpOptimWrapper(
            optimizer=torch.optim.SGD(model.backbone.parameters(), lr=0.1)),
        rest=OptimWrapper(torch.optim.SGD(model.head.parameters(), lr=0.1)))
    with pytest.raises(TypeError, match='AmpOptimWrapper'):
        model.train_step(_data(), wrappers)


def test_multi_optim_wrapper_constructor_errors():
    model = _ssc()
    sgd = dict(optimizer=dict(type='SGD', lr=0.1))
    with pytest.raises(ValueError, match='never be updated.*decoder'):
        MultiOptimWrapperConstructor(dict(backbone=sgd, head=sgd))(model)
    with pytest.raises(ValueError, match="no submodule 'neck'"):
        MultiOptimWrapperConstructor(dict(neck=sgd))(model)
    with pytest.raises(ValueError, match='share parameters'):
        MultiOptimWrapperConstructor(
            dict(backbone=sgd, **{'backbone.layer4': sgd}, head=sgd,
                 decoder=sgd))(model)
    # what --amp adds to the top level of optim_wrapper
    with pytest.raises(ValueError, match='AmpOptimWrapper'):
        MultiOptimWrapperConstructor(
            dict(backbone=sgd, type='AmpOptimWrapper'))
