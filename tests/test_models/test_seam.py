"""SEAM: the PCM, the three self-supervision losses, the two-view loss
composition, inference from the PCM maps and the released key layout."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from torch import nn

from tests.test_models.test_reference_checkpoints import net_gpp_shapes
from wsstool.models.heads.cam_head import CAMHead
from wsstool.models.heads.pixel_correlation import (PixelCorrelationModule,
                                                    pcm_seed_map)
from wsstool.models.losses.pixel_prototype_contrast import \
    PixelPrototypeContrast
from wsstool.models.losses.seam_losses import (AdaptiveMinPoolingLoss,
                                               EquivariantCrossRegLoss,
                                               EquivariantRegLoss)
from wsstool.models.methods.seam import SEAM, map_reference_keys
from wsstool.models.utils.contrast_view import ContrastView
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 3
LABELS = torch.tensor([[1., 0, 1], [0, 1, 0]])


# ----------------------------------------------------------------- CAMHead
def test_cam_head_background_channel():
    torch.manual_seed(0)
    head = CAMHead(in_channels=6, num_classes=NUM_CLASSES,
                   with_background=True, dropout_ratio=0.5).eval()
    feats = (torch.randn(2, 6, 4, 5), )
    weight = head.conv_cls.weight[:, :, 0, 0]
    assert weight.shape == (NUM_CLASSES + 1, 6)
    scores = torch.einsum('bchw,kc->bkhw', feats[0], weight)
    torch.testing.assert_close(head.score_maps(feats[0]), scores)
    torch.testing.assert_close(head(feats), scores[:, 1:].mean(dim=(2, 3)))
    torch.testing.assert_close(head.cam(feats), scores[:, 1:].clamp(min=0))
    cam, logits = head.cam_and_logits(feats)
    torch.testing.assert_close(cam, scores[:, 1:])
    torch.testing.assert_close(logits, head(feats))
    # dropout in training only, on the classifier input
    assert torch.equal(head.pre_logits(feats), feats[0])
    head.train()
    assert not torch.equal(head.pre_logits(feats), feats[0])
    with pytest.raises(ValueError, match='with_background'):
        CAMHead(in_channels=6, num_classes=2, with_background=1)


# ----------------------------------------------------------------- PCM
def _seed_loop(scores: np.ndarray) -> np.ndarray:
    """pcm_seed_map written with explicit loops (float64)."""
    batch, channels, height, width = scores.shape
    seed = np.zeros_like(scores)
    for b in range(batch):
        norm = np.zeros((channels, height, width))
        for k in range(channels):
            rect = np.maximum(scores[b, k], 0)
            norm[k] = np.maximum(rect - 1e-5, 0) / (rect.max() + 1e-5)
        for y in range(height):
            for x in range(width):
                fg = norm[1:, y, x]
                seed[b, 0, y, x] = 1 - fg.max()
                for k in range(1, channels):
                    if norm[k, y, x] >= fg.max():
                        seed[b, k, y, x] = norm[k, y, x]
    return seed


def test_seed_map_matches_a_loop():
    scores = torch.randn(2, 1 + NUM_CLASSES, 3, 4,
                         generator=torch.Generator().manual_seed(0))
    scores.requires_grad_(True)
    seed = pcm_seed_map(scores)
    assert not seed.requires_grad
    np.testing.assert_allclose(seed.numpy(),
                               _seed_loop(scores.detach().double().numpy()),
                               rtol=1e-5, atol=1e-6)
    # one foreground channel per pixel is non-zero
    assert ((seed[:, 1:] > 0).sum(dim=1) <= 1).all()


def _tiny_pcm() -> PixelCorrelationModule:
    torch.manual_seed(0)
    pcm = PixelCorrelationModule(
        in_channels=(4, 5), mid_channels=(2, 3), out_channels=6)
    pcm.init_weights()
    return pcm


def _pcm_loop(pcm, scores, feats, images) -> np.ndarray:
    """The PCM output from explicit per-position loops (float64). The
    5 x 7 images sit on the 3 x 4 grid at every second pixel, which is
    what the align_corners resize samples."""
    w3 = pcm.f8_3.weight[:, :, 0, 0].detach().double().numpy()
    w4 = pcm.f8_4.weight[:, :, 0, 0].detach().double().numpy()
    w9 = pcm.f9.weight[:, :, 0, 0].detach().double().numpy()
    seed = _seed_loop(scores.detach().double().numpy())
    feat_a = feats[0].detach().double().numpy()
    feat_b = feats[1].detach().double().numpy()
    small = images.detach().double().numpy()[:, :, ::2, ::2]
    batch, channels, height, width = scores.shape
    positions = [(y, x) for y in range(height) for x in range(width)]
    out = np.zeros((batch, channels, height, width))
    for b in range(batch):
        emb = []
        for y, x in positions:
            vec = np.concatenate([
                small[b, :, y, x],
                np.maximum(w3 @ feat_a[b, :, y, x], 0),
                np.maximum(w4 @ feat_b[b, :, y, x], 0)
            ])
            f = w9 @ vec
            emb.append(f / (np.sqrt((f**2).sum()) + 1e-5))
        num = len(positions)
        aff = np.array([[max(0.0, float(emb[i] @ emb[j])) for j in range(num)]
                        for i in range(num)])
        for j, (yj, xj) in enumerate(positions):
            column = sum(aff[i, j] for i in range(num)) + 1e-5
            for k in range(channels):
                out[b, k, yj, xj] = sum(
                    seed[b, k, yi, xi] * aff[i, j] / column
                    for i, (yi, xi) in enumerate(positions))
    return out


def _pcm_inputs():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 1 + NUM_CLASSES, 3, 4, generator=generator)
    feats = (torch.rand(2, 4, 3, 4, generator=generator),
             torch.rand(2, 5, 3, 4, generator=generator),
             torch.randn(2, 7, 3, 4, generator=generator))
    images = torch.randn(2, 3, 5, 7, generator=generator)
    return scores, feats, images


def test_pcm_matches_an_explicit_loop():
    pcm = _tiny_pcm()
    scores, feats, images = _pcm_inputs()
    out = pcm(scores, feats, images)
    assert out.shape == scores.shape and out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(),
                               _pcm_loop(pcm, scores, feats, images),
                               rtol=1e-4, atol=1e-6)


def test_pcm_gradient_reaches_its_convs_through_the_affinity_only():
    pcm = _tiny_pcm()
    scores, feats, images = _pcm_inputs()
    scores.requires_grad_(True)
    feats = tuple(f.requires_grad_(True) for f in feats)
    pcm(scores, feats, images).square().sum().backward()
    for conv in (pcm.f8_3, pcm.f8_4, pcm.f9):
        assert conv.weight.grad.abs().sum() > 0
    # the seed map is computed without gradient, the features are detached
    assert scores.grad is None
    assert all(f.grad is None for f in feats)
    torch.manual_seed(0)
    attached = PixelCorrelationModule(
        in_channels=(4, 5), mid_channels=(2, 3), out_channels=6,
        detach_feats=False)
    attached(scores, feats, images).sum().backward()
    assert feats[0].grad.abs().sum() > 0


def test_pcm_runs_in_float32_under_autocast():
    pcm = _tiny_pcm()
    scores, feats, images = _pcm_inputs()
    expected = pcm(scores, feats, images)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = pcm(scores, feats, images)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=0.05, rtol=0.05)


def test_pcm_reference_names_and_initialisation():
    torch.manual_seed(0)
    pcm = MODELS.build(dict(type='PixelCorrelationModule'))
    pcm.init_weights()
    shapes = {k: tuple(v.shape) for k, v in pcm.state_dict().items()}
    assert shapes == {'f8_3.weight': (64, 512, 1, 1),
                      'f8_4.weight': (128, 1024, 1, 1),
                      'f9.weight': (192, 195, 1, 1)}
    # Kaiming normal, fan-in: std sqrt(2 / fan_in)
    for conv, fan_in in ((pcm.f8_3, 512), (pcm.f8_4, 1024)):
        assert abs(conv.weight.std().item() / (2 / fan_in)**0.5 - 1) < 0.05
    # Xavier uniform with gain 4: bound 4 sqrt(6 / (fan_in + fan_out))
    bound = 4 * (6 / (195 + 192))**0.5
    assert pcm.f9.weight.abs().max() <= bound
    assert pcm.f9.weight.abs().max() > 0.95 * bound


def test_pcm_bad_arguments():
    with pytest.raises(ValueError, match='in_channels'):
        PixelCorrelationModule(in_channels=(512, ))
    pcm = _tiny_pcm()
    scores, feats, images = _pcm_inputs()
    with pytest.raises(ValueError, match='share one grid'):
        pcm(scores[..., :3], feats, images)


# ----------------------------------------------------------------- losses
def test_adaptive_min_pooling_takes_the_k_smallest_maxima():
    maps = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(2))
    loss = AdaptiveMinPoolingLoss(loss_weight=0.5)(maps)
    k = 4 * 6 // 4
    total = 0.0
    for b in range(2):
        peaks = sorted(
            max(maps[b, c, y, x].item() for c in range(3)) for y in range(4)
            for x in range(6))
        total += sum(max(p, 0.0) for p in peaks[:k])
    torch.testing.assert_close(loss, torch.tensor(0.5 * total / (k * 2)))
    assert AdaptiveMinPoolingLoss().loss_name == 'loss_amp'
    with pytest.raises(ValueError, match='ratio'):
        AdaptiveMinPoolingLoss(ratio=0)
    with pytest.raises(ValueError, match='maps'):
        AdaptiveMinPoolingLoss()(maps[0])


def test_equivariant_reg_loss_is_the_mean_absolute_difference():
    generator = torch.Generator().manual_seed(3)
    a = torch.rand(2, 3, 4, 5, generator=generator, requires_grad=True)
    b = torch.rand(2, 3, 4, 5, generator=generator, requires_grad=True)
    loss = EquivariantRegLoss(loss_weight=2.0)(a, b)
    expected = 2.0 * np.abs(a.detach().numpy() - b.detach().numpy()).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='equal shapes'):
        EquivariantRegLoss()(a, b[:, :2])


def _ecr_reference(target_fg: np.ndarray, refined: np.ndarray,
                   ratio: float) -> float:
    """One-hot target and the mean of the top ``ratio`` differences, per
    image with loops."""
    batch, classes, height, width = target_fg.shape
    per_image = []
    for b in range(batch):
        target = np.zeros((classes + 1, height, width))
        for y in range(height):
            for x in range(width):
                column = target_fg[b, :, y, x]
                target[0, y, x] = 1 - column.max()
                top = int(np.argmax(column))
                target[1 + top, y, x] = column[top]
        diffs = np.sort(np.abs(target - refined[b]).ravel())[::-1]
        k = int((classes + 1) * height * width * ratio)
        per_image.append(diffs[:k].mean())
    return float(np.mean(per_image))


def test_equivariant_cross_reg_loss_one_hot_and_top_20_percent():
    generator = torch.Generator().manual_seed(4)
    target_fg = torch.rand(2, 3, 4, 5, generator=generator,
                           requires_grad=True)
    refined = torch.rand(2, 4, 4, 5, generator=generator, requires_grad=True)
    loss_fn = EquivariantCrossRegLoss()
    loss = loss_fn(target_fg, refined)
    expected = _ecr_reference(target_fg.detach().numpy(),
                              refined.detach().numpy(), 0.2)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    full = EquivariantCrossRegLoss(loss_weight=3.0, top_ratio=1.0)(target_fg,
                                                                   refined)
    assert full.item() == pytest.approx(
        3.0 * _ecr_reference(target_fg.detach().numpy(),
                             refined.detach().numpy(), 1.0), rel=1e-5)
    assert full.item() < 3.0 * loss.item()
    loss.backward()
    assert target_fg.grad is None and refined.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r'refined must have shape'):
        loss_fn(target_fg, refined[:, :3])


# ----------------------------------------------------------------- SEAM
SIZE = 32


def _seam(**kwargs) -> SEAM:
    init_default_scope('wsstool')
    cfg = dict(
        type='SEAM',
        backbone=dict(type='ResNet', depth=18, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), out_indices=(1, 2, 3)),
        head=dict(type='CAMHead', in_channels=512, num_classes=NUM_CLASSES,
                  with_background=True),
        pcm=dict(type='PixelCorrelationModule', in_channels=(128, 256),
                 mid_channels=(8, 16), out_channels=24),
        view_scale=0.5)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _samples(labels=LABELS, size=SIZE) -> list:
    samples = []
    for label in labels:
        sample = WSSSDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_label = label
        samples.append(sample)
    return samples


def _images(seed=5, size=SIZE):
    return torch.randn(2, 3, size, size,
                       generator=torch.Generator().manual_seed(seed))


def _up(maps, size):
    return F.interpolate(maps, size=size, mode='bilinear', align_corners=True)


def _minmax(x):
    """minmax_train written out: r = relu(x), relu(r - min - 1e-5) /
    (max - min + 1e-5) per channel."""
    r = x.clamp(min=0)
    low = r.flatten(2).min(-1).values[..., None, None]
    high = r.flatten(2).max(-1).values[..., None, None]
    return (r - low - 1e-5).clamp(min=0) / (high - low + 1e-5)


def test_second_view_as_the_reference_resizes():
    model = _seam(view_scale=0.3)
    images = torch.randn(1, 3, 40, 52)
    expected = F.interpolate(images, scale_factor=0.3, mode='bilinear',
                             align_corners=True)
    assert expected.shape[-2:] == (12, 15)
    torch.testing.assert_close(model.second_view(images), expected)
    model = _seam(view_scale=None, view_size=(16, 16))
    assert model.second_view(images).shape[-2:] == (16, 16)


def test_loss_terms_match_an_independent_composition():
    model = _seam().train()
    images = _images()
    losses = model.loss(images, _samples())
    assert set(losses) == {'loss_cls', 'loss_amp', 'loss_er', 'loss_ecr'}

    small = _up(images, (SIZE // 2, SIZE // 2))
    view1, view2 = model.view(images), model.view(small)
    assert view1.scores.shape == (2, 1 + NUM_CLASSES, 4, 4)
    assert view2.refined.shape == (2, 1 + NUM_CLASSES, 2, 2)
    size1, size2 = (SIZE, SIZE), (SIZE // 2, SIZE // 2)
    s1, s2 = _up(view1.scores, size1), _up(view2.scores, size2)
    r1, r2 = _up(view1.refined, size1), _up(view2.refined, size2)
    y = LABELS[:, :, None, None]
    y_bg = torch.cat([torch.ones(2, 1, 1, 1), y], dim=1)

    cls = sum(F.multilabel_soft_margin_loss(s[:, 1:].mean(dim=(2, 3)),
                                            LABELS) for s in (s1, s2)) / 2
    torch.testing.assert_close(losses['loss_cls'], cls)

    def amp(refined):
        peaks = (refined[:, 1:] * y).amax(dim=1).flatten(1)
        k = peaks.shape[1] // 4
        return peaks.sort(dim=1).values[:, :k].clamp(min=0).sum() / (k * 2)

    torch.testing.assert_close(losses['loss_amp'], (amp(r1) + amp(r2)) / 2)

    m1 = _up(_minmax(s1), size2) * y_bg
    m2 = _minmax(s2) * y_bg
    torch.testing.assert_close(losses['loss_er'],
                               (m1[:, 1:] - m2[:, 1:]).abs().mean())
    rv1 = _up(_minmax(r1), size2) * y_bg
    rv2 = _minmax(r2) * y_bg
    ecr = sum(
        _ecr_reference(m[:, 1:].detach().numpy(), r.detach().numpy(), 0.2)
        for m, r in ((m2, rv1), (m1, rv2)))
    assert losses['loss_ecr'].item() == pytest.approx(ecr, rel=1e-5)


def _grad_norm(module: nn.Module) -> float:
    return sum(p.grad.abs().sum().item() for p in module.parameters()
               if p.grad is not None)


def test_pcm_is_trained_only_by_amp_and_ecr():
    model = _seam().train()
    losses = model.loss(_images(), _samples())
    (losses['loss_amp'] + losses['loss_ecr']).backward(retain_graph=True)
    assert _grad_norm(model.pcm.f8_3) > 0 and _grad_norm(model.pcm.f9) > 0
    assert _grad_norm(model.pcm.f8_4) > 0
    # only through the affinity: nothing reaches the classifier or backbone
    assert _grad_norm(model.head) == 0 and _grad_norm(model.backbone) == 0
    model.zero_grad()
    (losses['loss_cls'] + losses['loss_er']).backward()
    assert _grad_norm(model.pcm) == 0
    assert _grad_norm(model.head) > 0 and _grad_norm(model.backbone) > 0


class _Identity(nn.Module):
    """A stride-1 'backbone' that returns the image as every feature."""

    def forward(self, x):
        return x, x, x


def _identity_seam() -> SEAM:
    model = _seam(
        head=dict(type='CAMHead', in_channels=3, num_classes=2,
                  with_background=True),
        pcm=dict(type='PixelCorrelationModule', in_channels=(3, 3),
                 mid_channels=(2, 2), out_channels=4))
    model.backbone = _Identity()
    with torch.no_grad():
        model.head.conv_cls.weight.copy_(
            torch.tensor([[1., 0, 0], [0.5, 1, 0], [0, 0.5, 1]])[..., None,
                                                                  None])
    return model


def test_scale_equivariant_maps_give_zero_equivariant_regularisation():
    """With an identity backbone the class maps are linear in the image;
    for a positive linear ramp image the resize commutes with the network
    and with the min-max normalisation, so L_er vanishes; a random image
    (mixed signs, extrema inside) does not."""
    model = _identity_seam()
    grid_y, grid_x = torch.meshgrid(torch.linspace(0, 1, 24),
                                    torch.linspace(0, 1, 20), indexing='ij')
    ramp = torch.stack([1 + grid_y, 2 + grid_x, 1 + grid_x + grid_y])
    labels = torch.tensor([[1., 1], [1., 1]])
    samples = _samples(labels, 24)
    losses = model.loss(torch.stack([ramp, ramp.flip(-1)]), samples)
    assert losses['loss_er'].item() < 1e-5
    noisy = model.loss(torch.randn(2, 3, 24, 20), samples)
    assert noisy['loss_er'].item() > 1e-2


def test_predict_uses_the_pcm_maps():
    model = _seam(test_cfg=dict(norm='minmax_infer')).eval()
    images = _images()
    with torch.no_grad():
        view = model.view(images)
        maps, logits = model._cam_and_logits(images)
        outputs = model.predict(images, _samples())
    torch.testing.assert_close(maps, _up(view.refined[:, 1:], (SIZE, SIZE)))
    torch.testing.assert_close(
        logits, _up(view.scores, (SIZE, SIZE))[:, 1:].mean(dim=(2, 3)))
    for index, output in enumerate(outputs):
        keys = torch.nonzero(LABELS[index])[:, 0]
        assert torch.equal(output.pred_cam.class_ids, keys)
        x = maps[index, keys]
        low = x.flatten(1).min(-1).values[:, None, None]
        high = x.flatten(1).max(-1).values[:, None, None]
        expected = (x.masked_fill(x < low + 1e-5, 0) - low - 1e-5) / (
            high - low + 1e-5)
        torch.testing.assert_close(output.pred_cam.cam, expected)
    with torch.no_grad():
        tensor_logits = model(images, mode='tensor')
        plain, _ = _seam(infer_maps='cam').eval()._cam_and_logits(images)
    torch.testing.assert_close(tensor_logits, logits)
    torch.testing.assert_close(plain, _up(view.scores[:, 1:], (SIZE, SIZE)))


class _RecordingAux(nn.Module):
    """An auxiliary loss that records the views it is given."""

    def forward(self, model, inputs, labels, views):
        self.views = views
        return dict(loss_aux=views[0].cam.sum() * 0)


def test_contrast_views_passed_to_auxiliary_losses():
    model = _seam().train()
    model.aux_losses.append(_RecordingAux())
    images = _images()
    losses = model.loss(images, _samples())
    assert 'loss_aux' in losses
    view1, view2 = model.aux_losses[0].views
    assert isinstance(view1, ContrastView)
    assert view1.feats.shape == (2, 512, 4, 4)
    assert view1.cam.shape == (2, NUM_CLASSES, 4, 4)
    assert view2.feats.shape == (2, 512, 2, 2)
    assert view2.cam.shape == (2, NUM_CLASSES, 2, 2)
    model.eval()
    with torch.no_grad():
        view = model.contrast_view(images)
        expected = model.view(images)
    torch.testing.assert_close(view.feats, expected.feat)
    torch.testing.assert_close(view.cam, expected.refined[:, 1:])
    with pytest.raises(ValueError, match='pass cam=None'):
        model.contrast_view(images, cam=view.cam)


def test_contrast_view_features_are_the_dropped_classifier_input():
    """With head dropout, view 1's features are the channel-dropped
    tensor whose scores the PCM refined into view 1's maps."""
    model = _seam(head=dict(type='CAMHead', in_channels=512,
                            num_classes=NUM_CLASSES, with_background=True,
                            dropout_ratio=0.5)).train()
    model.aux_losses.append(_RecordingAux())
    images = _images()
    torch.manual_seed(3)
    model.loss(images, _samples())
    view1 = model.aux_losses[0].views[0]
    feats = model.extract_feat(images)
    # each channel dropped (0) or kept and scaled by 1 / (1 - 0.5)
    kept = view1.feats.abs().amax(dim=(2, 3)) > 0
    assert 0 < kept.sum() < kept.numel()
    torch.testing.assert_close(
        view1.feats, feats[-1] * 2 * kept[..., None, None].float())
    refined = model.pcm(model.head.score_maps(view1.feats), feats, images)
    torch.testing.assert_close(view1.cam, refined[:, 1:])


def test_loss_under_autocast_is_float32():
    model = _seam(aux_losses=[dict(type='PixelPrototypeContrast',
                                   in_channels=512, view_size=None)]).train()
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        losses = model.loss(_images(), _samples())
    assert set(losses) == {'loss_cls', 'loss_amp', 'loss_er', 'loss_ecr',
                           'loss_cross', 'loss_cross2', 'loss_intra'}
    for name, value in losses.items():
        assert value.dtype == torch.float32, name
        assert torch.isfinite(value), name


@pytest.mark.parametrize('kwargs,match', [
    (dict(head=dict(type='CAMHead', in_channels=512,
                    num_classes=NUM_CLASSES)), 'background'),
    (dict(view_size=(16, 16)), 'not both'),
    (dict(view_scale=None), 'None for both'),
    (dict(view_scale=1.5), 'view_scale=1.5'),
    (dict(view_scale=True), 'view_scale=True'),
    (dict(view_scale=None, view_size=(16, )), 'view_size'),
    (dict(view_scale=None, view_size=(True, 16)), r'view_size=\(True, 16\)'),
    (dict(infer_maps='affinity'), 'infer_maps'),
    (dict(test_cfg=dict(upsample_stride=16)), 'upsample_stride'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _seam(**kwargs)


# ----------------------------------------------------------------- keys
def _released_state_dict(with_ppc: bool) -> 'OrderedDict[str, torch.Tensor]':
    """The layout of a released SEAM state dict (resnet38_SEAM.Net):
    ResNet-38d backbone keys plus fc8, f8_3, f8_4, f9; PPC
    (resnet38_contrast.Net) adds fc_proj."""
    head_keys = ('fc8.', 'bn8.', 'fc9.', 'gconv')
    shapes = {k: s for k, s in net_gpp_shapes(21).items()
              if not k.startswith(head_keys)}
    shapes.update({'fc8.weight': (21, 4096, 1, 1),
                   'f8_3.weight': (64, 512, 1, 1),
                   'f8_4.weight': (128, 1024, 1, 1),
                   'f9.weight': (192, 195, 1, 1)})
    if with_ppc:
        shapes['fc_proj.weight'] = (128, 4096, 1, 1)
    # zeros (cheap) except the tensors whose destination is checked
    generator = torch.Generator().manual_seed(6)
    return OrderedDict(
        (key, torch.rand(shape, generator=generator)
         if key in CHECKED_KEYS else torch.zeros(shape))
        for key, shape in shapes.items())


CHECKED_KEYS = {
    'fc8.weight': 'head.conv_cls.weight',
    'f8_3.weight': 'pcm.f8_3.weight',
    'f8_4.weight': 'pcm.f8_4.weight',
    'f9.weight': 'pcm.f9.weight',
    'fc_proj.weight': 'aux_losses.0.fc_proj.weight',
    'conv1a.weight': 'backbone.conv1a.weight',
    'b4_5.bn_branch2b1.running_var': 'backbone.b4_5.bn_branch2b1.running_var',
}


@pytest.mark.parametrize('with_ppc', [False, True], ids=['seam', 'ppc'])
def test_released_checkpoint_loads_strictly(with_ppc):
    init_default_scope('wsstool')
    aux_losses = [dict(type='PixelPrototypeContrast', in_channels=4096,
                       view_size=None)]
    model = MODELS.build(
        dict(type='SEAM',
             backbone=dict(type='ResNet38d', out_indices=(1, 2, 3)),
             head=dict(type='CAMHead', in_channels=4096, num_classes=20,
                       with_background=True, dropout_ratio=0.5),
             aux_losses=aux_losses if with_ppc else None))
    reference = _released_state_dict(with_ppc)
    assert len(reference) == 228 + 4 + int(with_ppc)
    model.load_state_dict(dict(reference), strict=True)
    if with_ppc:
        assert isinstance(model.aux_losses[0], PixelPrototypeContrast)
    state = model.state_dict()
    for key, ours in CHECKED_KEYS.items():
        if key in reference:
            assert torch.equal(state[ours], reference[key]), key


def test_map_reference_keys():
    model_keys = {'head.conv_cls.weight', 'pcm.f9.weight',
                  'aux_losses.0.fc_proj.weight'}
    tensors = OrderedDict(
        (key, torch.tensor([float(i)])) for i, key in enumerate(
            ['fc8.weight', 'f9.weight', 'fc_proj.weight', 'extra.weight']))
    mapped = map_reference_keys(tensors, model_keys)
    assert list(mapped) == ['head.conv_cls.weight', 'pcm.f9.weight',
                            'aux_losses.0.fc_proj.weight', 'extra.weight']
    # fc_proj stays when no contrast loss is attached
    assert 'fc_proj.weight' in map_reference_keys(tensors,
                                                  model_keys - {
                                                      'aux_losses.0.fc_proj'
                                                      '.weight'})
    with pytest.raises(ValueError, match='map twice'):
        map_reference_keys(
            OrderedDict([('fc8.weight', torch.zeros(1)),
                         ('head.conv_cls.weight', torch.zeros(1))]),
            model_keys)
