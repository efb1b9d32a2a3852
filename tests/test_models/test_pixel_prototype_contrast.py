"""PixelPrototypeContrast: each piece against an explicit loop, and the
loss attached to CAM methods from a config."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import wsstool.models.losses.pixel_prototype_contrast as ppc_module
from wsstool.models.losses.pixel_prototype_contrast import (
    PixelPrototypeContrast, class_prototypes, class_scores,
    complement_background, info_nce, intra_view_contrast, num_top_positions,
    pseudo_labels, sample_class_pixels)
from wsstool.models.utils.contrast_view import ContrastView
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
E = 1e-5


# --------------------------------------------------------------------------
# independent loop implementations of the reference's computations


def loop_prototypes(scores, feats, num_top):
    """For each channel: sort all (score, b, y, x) descending, weighted mean
    of the first ``num_top`` feature vectors, L2-normalised."""
    batch, channels, height, width = scores.shape
    protos = []
    for k in range(channels):
        entries = sorted(((float(scores[b, k, y, x]), b, y, x)
                          for b in range(batch) for y in range(height)
                          for x in range(width)), reverse=True)[:num_top]
        total = sum(weight for weight, *_ in entries)
        proto = sum(weight * feats[b, :, y, x]
                    for weight, b, y, x in entries) / total
        protos.append(proto / proto.norm())
    return torch.stack(protos)


def loop_nce(feats, protos, targets, t):
    """Mean over pixels of -log(exp(f.p+/t) / sum_k exp(f.p_k/t)), one
    pixel at a time (differentiable in ``feats``)."""
    losses = []
    for f, y in zip(feats, targets.tolist()):
        sims = [torch.dot(f, p) / t for p in protos]
        denominator = sum(torch.exp(s) for s in sims)
        losses.append(-torch.log(torch.exp(sims[y]) / denominator))
    return torch.stack(losses).mean()


def loop_sample(targets, similarity, keys, ratio=0.6):
    """Per-pixel use counts: per class, the n // 2 smallest keys and the
    semi-hard slice of the ascending similarity order."""
    uses = [0] * len(targets)
    for c in set(targets.tolist()):
        members = [i for i, y in enumerate(targets.tolist()) if y == c]
        n = len(members)
        if n < 2:
            continue
        for i in sorted(members, key=lambda i: float(keys[i]))[:n // 2]:
            uses[i] += 1
        by_similarity = sorted(members, key=lambda i: float(similarity[i]))
        end = int(n * ratio)
        for i in by_similarity[end - n // 2:end]:
            uses[i] += 1
    return uses


def loop_intra(feats, protos, targets, t, keys, skip=3, num_neg=10,
               ratio=0.6, class_mean='present'):
    """The reference's intra-view term, one pixel and one class at a time:
    negatives = positive + ranks skip+1 .. skip+num_neg; per class the
    random and semi-hard sets concatenated; sum / number of classes."""
    per_pixel = []
    for f, y in zip(feats, targets.tolist()):
        sims = [torch.dot(f, p) for p in protos]
        ranked = sorted(sims, key=float, reverse=True)[skip:skip + num_neg]
        denominator = sum(torch.exp(s / t) for s in [sims[y], *ranked])
        per_pixel.append(-torch.log(torch.exp(sims[y] / t) / denominator))
    similarity = [float(torch.dot(f, protos[y]))
                  for f, y in zip(feats, targets.tolist())]
    total, counted = 0, 0
    for c in sorted(set(targets.tolist())):
        members = [i for i, y in enumerate(targets.tolist()) if y == c]
        n = len(members)
        if class_mean == 'present' or n >= 2:
            counted += 1
        if n < 2:
            continue
        chosen = sorted(members, key=lambda i: float(keys[i]))[:n // 2]
        end = int(n * ratio)
        chosen += sorted(members,
                         key=lambda i: similarity[i])[end - n // 2:end]
        total = total + torch.stack([per_pixel[i] for i in chosen]).mean()
    return total / counted


def loop_pseudo(cam, labels, bg, complement=False):
    """Reference pseudo labels: minmax_infer by hand, background constant,
    argmax of the label-masked scores. Also returns the prototype scores:
    with ``complement`` their background is 1 - max(0, present scores)."""
    batch, classes, height, width = cam.shape
    out = torch.zeros(batch, height, width, dtype=torch.long)
    scores = torch.zeros(batch, classes + 1, height, width)
    for b in range(batch):
        scores[b, 0] = bg
        for c in range(classes):
            x = cam[b, c].clamp(min=0)
            low, high = float(x.min()), float(x.max())
            for y in range(height):
                for z in range(width):
                    v = float(x[y, z])
                    v = 0.0 if v < low + E else v
                    scores[b, c + 1, y, z] = (v - low - E) / (high - low + E)
        masks = [1.0] + labels[b].tolist()
        for y in range(height):
            for z in range(width):
                values = [scores[b, k, y, z] * masks[k]
                          for k in range(classes + 1)]
                out[b, y, z] = max(range(classes + 1),
                                   key=lambda k: (float(values[k]), -k))
                if complement:
                    scores[b, 0, y, z] = 1 - max(0.0, *[
                        float(values[k]) for k in range(1, classes + 1)])
    return scores, out


# --------------------------------------------------------------------------
# pure functions


def test_class_scores_and_pseudo_labels_by_hand():
    cam = torch.tensor([[[[0., 2.], [4., -1.]], [[1., 1.], [3., 5.]]]])
    scores = class_scores(cam, 0.2)
    low = -E / (4 + E)
    expected = torch.tensor([[
        [[0.2, 0.2], [0.2, 0.2]],
        [[low, (2 - E) / (4 + E)], [(4 - E) / (4 + E), low]],
        [[(-1 - E) / (4 + E), (-1 - E) / (4 + E)],
         [(2 - E) / (4 + E), (4 - E) / (4 + E)]],
    ]])
    torch.testing.assert_close(scores, expected)
    # both classes present: bg, class 0 (label 1), class 0, class 1 (label 2)
    assert pseudo_labels(scores, torch.tensor([[1., 1.]])).tolist() == [
        [[0, 1], [1, 2]]]
    # class 0 absent: it never wins, even where it scores 1
    assert pseudo_labels(scores, torch.tensor([[0., 1.]])).tolist() == [
        [[0, 0], [2, 2]]]
    # complement background: 1 - max of the present class (negatives -> 0)
    torch.testing.assert_close(
        complement_background(scores, torch.tensor([[0., 1.]]))[0, 0],
        torch.tensor([[1., 1.], [1 - (2 - E) / (4 + E),
                                 1 - (4 - E) / (4 + E)]]))


def test_pseudo_labels_match_the_reference_loop():
    gen = torch.Generator().manual_seed(0)
    cam = torch.randn(2, 4, 3, 3, generator=gen)
    labels = torch.tensor([[1., 0, 1, 0], [0, 0, 0, 1]])
    ref_scores, ref_labels = loop_pseudo(cam, labels, 0.2)
    scores = class_scores(cam, 0.2)
    torch.testing.assert_close(scores, ref_scores)
    assert torch.equal(pseudo_labels(scores, labels), ref_labels)


def test_num_top_positions():
    assert num_top_positions(1 / 8, (16, 16), 8 * 256) == 32  # reference
    assert num_top_positions(1 / 16, (16, 16), 8 * 256) == 16  # EPS branch
    assert num_top_positions(1 / 8, (2, 2), 8) == 1  # at least one
    assert num_top_positions(1.0, (4, 4), 5) == 5  # at most all positions


def test_prototypes_match_a_direct_loop():
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(2, 3, 3, 4, generator=gen)
    feats = torch.randn(2, 5, 3, 4, generator=gen)
    protos = class_prototypes(scores, feats, 4)
    torch.testing.assert_close(protos, loop_prototypes(scores, feats, 4))
    assert protos.shape == (3, 5)


def test_info_nce_matches_a_per_pixel_loop():
    gen = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(12, 6, generator=gen), dim=1)
    protos = F.normalize(torch.randn(5, 6, generator=gen), dim=1)
    targets = torch.randint(0, 5, (12, ), generator=gen)
    torch.testing.assert_close(
        info_nce(feats, protos, targets, 0.1),
        loop_nce(feats, protos, targets, 0.1))


def _class_sizes_targets(sizes, gen):
    """Shuffled (N,) targets with ``sizes[c]`` pixels of class c."""
    targets = torch.cat([torch.full((n, ), c) for c, n in enumerate(sizes)])
    return targets[torch.randperm(len(targets), generator=gen)]


def test_pixel_sampling_matches_the_reference_slices():
    gen = torch.Generator().manual_seed(0)
    # n = 0, 1, 2, 3, 5, 7, 10: n // 2 random plus the semi-hard slice
    targets = _class_sizes_targets((0, 1, 2, 3, 5, 7, 10), gen)
    similarity = torch.randn(len(targets), generator=gen)
    keys = torch.rand(len(targets), generator=gen)
    uses = sample_class_pixels(targets, similarity, 7, 0.6, keys)
    assert uses.tolist() == loop_sample(targets, similarity, keys)
    # each class with n >= 2 uses 2 * (n // 2) pixel entries
    per_class = torch.zeros(7).index_add(0, targets, uses)
    assert per_class.tolist() == [0, 0, 2, 2, 4, 6, 10]


def test_pixel_sampling_draws_from_the_global_generator():
    targets = _class_sizes_targets((6, 9), torch.Generator().manual_seed(1))
    similarity = torch.arange(15.)
    torch.manual_seed(3)
    uses = sample_class_pixels(targets, similarity, 2)
    torch.manual_seed(3)
    keys = torch.rand(15)
    assert uses.tolist() == loop_sample(targets, similarity, keys)
    torch.manual_seed(4)
    assert not torch.equal(sample_class_pixels(targets, similarity, 2), uses)


@pytest.mark.parametrize('num_protos,class_mean', [(21, 'present'),
                                                   (21, 'sampled'),
                                                   (9, 'present')])
def test_intra_term_matches_the_reference_loop(num_protos, class_mean):
    gen = torch.Generator().manual_seed(0)
    # classes with 1 pixel count in the 'present' denominator only
    sizes = [0] * num_protos
    sizes[0], sizes[2], sizes[5], sizes[7], sizes[8] = 9, 1, 6, 2, 1
    targets = _class_sizes_targets(sizes, gen)
    feats = F.normalize(torch.randn(len(targets), 8, generator=gen), dim=1)
    feats.requires_grad_(True)
    protos = F.normalize(torch.randn(num_protos, 8, generator=gen), dim=1)
    keys = torch.rand(len(targets), generator=gen)
    loss = intra_view_contrast(feats, protos, targets, 0.1,
                               class_mean=class_mean, random_keys=keys)
    expected = loop_intra(feats, protos, targets, 0.1, keys,
                          class_mean=class_mean)
    torch.testing.assert_close(loss, expected)
    grad, = torch.autograd.grad(loss, feats)
    expected_grad, = torch.autograd.grad(expected, feats)
    torch.testing.assert_close(grad, expected_grad)


def test_intra_term_is_zero_without_a_class_of_two_pixels():
    feats = F.normalize(torch.randn(3, 4), dim=1).requires_grad_(True)
    loss = intra_view_contrast(feats, F.normalize(torch.randn(5, 4), dim=1),
                               torch.tensor([0, 1, 4]), 0.1)
    assert loss.item() == 0.0 and loss.requires_grad


# --------------------------------------------------------------------------
# the module


def _views(gen, channels=6, classes=3, grid1=6, grid2=4, batch=2,
           offset=0.0):
    def view(grid):
        cam = torch.randn(batch, classes, grid, grid, generator=gen) + offset
        return ContrastView(
            torch.randn(batch, channels, grid, grid,
                        generator=gen).requires_grad_(True),
            cam.requires_grad_(True))

    return view(grid1), view(grid2)


def _fixed_random_keys(monkeypatch, keys):
    """Make the intra term's random pixel sample use ``keys`` (N,) for
    every view, whatever the order of the draws."""
    sample = ppc_module.sample_class_pixels

    def with_keys(targets, similarity, num_classes, semi_hard_ratio=0.6,
                  random_keys=None):
        assert random_keys is None
        return sample(targets, similarity, num_classes, semi_hard_ratio,
                      keys)

    monkeypatch.setattr(ppc_module, 'sample_class_pixels', with_keys)


def _loop_terms(ppc, view1, view2, labels, keys, num_top):
    """The three weighted terms of ``ppc`` written with the loops above:
    project, resize view 1 to view 2's grid (align_corners), pseudo labels
    and prototypes of detached inputs, per-pixel losses."""
    weight = ppc.fc_proj.weight[:, :, 0, 0]
    grid = view2.cam.shape[-2:]
    complement = ppc.bg_prototype == 'complement'
    targets, protos, pixels = [], [], []
    for view in (view1, view2):
        proj = torch.einsum('od,bdhw->bohw', weight, view.feats).relu()
        cam = view.cam.detach()
        if cam.shape[-2:] != grid:
            proj = F.interpolate(proj, size=grid, mode='bilinear',
                                 align_corners=True)
            cam = F.interpolate(cam, size=grid, mode='bilinear',
                                align_corners=True)
        scores, pseudo = loop_pseudo(cam, labels, ppc.bg_score, complement)
        targets.append(pseudo.reshape(-1))
        protos.append(loop_prototypes(scores, proj.detach(), num_top))
        flat = proj.permute(0, 2, 3, 1).reshape(-1, proj.shape[1])
        pixels.append(flat / flat.norm(dim=1, keepdim=True))
    (y1, y2), (p1, p2), (f1, f2) = targets, protos, pixels
    t, w = ppc.temperature, ppc.loss_weights

    def intra(f, p, y):
        return loop_intra(f, p, y, t, keys, skip=ppc.hard_negative_skip,
                          num_neg=ppc.num_negatives)

    return dict(
        loss_cross=w['cross'] * (loop_nce(f1, p2, y1, t) +
                                 loop_nce(f2, p1, y2, t)) / 2,
        loss_cross2=w['cross2'] * (loop_nce(f1, p1, y2, t) +
                                   loop_nce(f2, p2, y1, t)) / 2,
        loss_intra=w['intra'] * (intra(f1, p1, y1) + intra(f2, p2, y2)) / 2)


def _check_against_loops(ppc, view1, view2, labels, keys, num_top):
    """Values and gradients (features of both views, fc_proj) equal the
    loop composition; the class maps get no gradient."""
    losses = ppc(None, None, labels, (view1, view2))
    assert list(losses) == ['loss_cross', 'loss_cross2', 'loss_intra']
    params = [view1.feats, view2.feats, ppc.fc_proj.weight]
    grads = torch.autograd.grad(sum(losses.values()), params)
    expected = _loop_terms(ppc, view1, view2, labels, keys, num_top)
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value)
    # same gradients: none through the pseudo labels or prototypes
    expected_grads = torch.autograd.grad(sum(expected.values()), params)
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(grad, expected_grad)
    # the class maps only select labels and prototypes
    total = sum(ppc(None, None, labels, (view1, view2)).values())
    assert torch.autograd.grad(
        total, [view1.cam, view2.cam], allow_unused=True) == (None, None)


def test_forward_matches_an_independent_composition_and_gradients(
        monkeypatch):
    gen = torch.Generator().manual_seed(0)
    # positive maps: distinct scores, so that the top-K sets have no ties
    view1, view2 = _views(gen, offset=3.0)
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    ppc = PixelPrototypeContrast(
        in_channels=6, proj_channels=5, view_size=None, topk_ratio=1 / 4,
        hard_negative_skip=1, num_negatives=2, bg_prototype='complement',
        loss_weight=dict(cross=0.1, cross2=0.2, intra=0.3))
    torch.manual_seed(0)
    ppc.fc_proj.weight.data.normal_()
    keys = torch.rand(32, generator=gen)
    _fixed_random_keys(monkeypatch, keys)
    _check_against_loops(ppc, view1, view2, labels, keys, num_top=4)


def test_forward_with_the_reference_defaults(monkeypatch):
    """Default options (constant background, 0.1 weights, ranks 4..13
    clamped to the 4 prototypes); K covers all 2 * 4 * 4 positions, so the
    constant background prototype is the mean of every position."""
    gen = torch.Generator().manual_seed(3)
    view1, view2 = _views(gen)
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    ppc = PixelPrototypeContrast(in_channels=6, view_size=None,
                                 topk_ratio=2.0)
    assert (ppc.bg_prototype, ppc.hard_negative_skip,
            ppc.num_negatives) == ('constant', 3, 10)
    torch.manual_seed(0)
    ppc.fc_proj.weight.data.normal_()
    keys = torch.rand(32, generator=gen)
    _fixed_random_keys(monkeypatch, keys)
    _check_against_loops(ppc, view1, view2, labels, keys, num_top=32)


def test_constant_background_prototype_is_a_top_k_mean(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    view1, view2 = _views(gen, offset=3.0)
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    ppc = PixelPrototypeContrast(in_channels=6, view_size=None,
                                 topk_ratio=1 / 4)
    computed = []

    def spy(scores, feats, num_top):
        computed.append((scores, feats, class_prototypes(
            scores, feats, num_top)))
        return computed[-1][2]

    monkeypatch.setattr(ppc_module, 'class_prototypes', spy)
    ppc(None, None, labels, (view1, view2))
    scores, feats, protos = computed[1]  # view 2
    proj = ppc.project(view2.feats).detach()
    torch.testing.assert_close(feats, proj)
    loop_scores, _ = loop_pseudo(view2.cam.detach(), labels, 0.2)
    torch.testing.assert_close(scores, loop_scores)
    # foreground prototypes: the loop's; background: the mean of some 4
    # positions, chosen by topk among the equal scores
    torch.testing.assert_close(protos[1:],
                               loop_prototypes(loop_scores, proj, 4)[1:])
    flat = proj.permute(0, 2, 3, 1).reshape(-1, proj.shape[1])
    subsets = torch.combinations(torch.arange(len(flat)), 4)
    means = F.normalize(flat[subsets].mean(dim=1), dim=1)
    assert (means - protos[0]).abs().amax(dim=1).min() < 1e-5


class _Host(torch.nn.Module):
    """A host method whose views are fixed functions of the images."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def contrast_view(self, images):
        self.sizes.append(tuple(images.shape[-2:]))
        pooled = F.adaptive_avg_pool2d(images, [s // 4 for s in
                                                images.shape[-2:]])
        return ContrastView(pooled, pooled[:, :2] * 3)


def test_missing_views_come_from_the_host():
    images = torch.randn(2, 3, 32, 40)
    labels = torch.tensor([[1., 0], [1., 1.]])
    host = _Host()
    ppc = PixelPrototypeContrast(in_channels=3, view_size=(16, 24))
    torch.manual_seed(0)
    losses = ppc(host, images, labels, (None, None))
    assert host.sizes == [(32, 40), (16, 24)]
    second = F.interpolate(images, size=(16, 24), mode='bilinear',
                           align_corners=True)
    given = PixelPrototypeContrast(in_channels=3, view_size=None)
    given.load_state_dict(ppc.state_dict())
    torch.manual_seed(0)
    expected = given(None, images, labels, (host.contrast_view(images),
                                            host.contrast_view(second)))
    for name in losses:
        torch.testing.assert_close(losses[name], expected[name])
    # view_scale floors each side, as F.interpolate(scale_factor=...)
    ppc = PixelPrototypeContrast(
        in_channels=3, view_size=None, view_scale=0.3)
    assert ppc.second_view_images(images).shape[-2:] == (9, 12)
    ppc = PixelPrototypeContrast(in_channels=3, view_size=None)
    with pytest.raises(ValueError, match='must pass the second view'):
        ppc(host, images, labels, (None, None))


@pytest.mark.parametrize('options', [dict(), dict(view_size=None,
                                                  view_scale=0.5)])
def test_a_host_view_2_with_own_view_options_is_an_error(options):
    """A host that passes view 2 (SEAM) sizes it itself: the loss's own
    view options would be silently ignored."""
    gen = torch.Generator().manual_seed(0)
    ppc = PixelPrototypeContrast(in_channels=6, **options)
    with pytest.raises(ValueError, match='set view_size=None'):
        ppc(_Host(), None, torch.ones(2, 3), _views(gen))


def test_amp_computes_the_contrast_in_float32():
    gen = torch.Generator().manual_seed(0)
    view1, view2 = _views(gen)
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    ppc = PixelPrototypeContrast(in_channels=6, view_size=None)
    torch.manual_seed(1)
    full = ppc(None, None, labels, (view1, view2))
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        torch.manual_seed(1)
        half = ppc(None, None, labels,
                   tuple(ContrastView(v.feats.bfloat16(), v.cam.bfloat16())
                         for v in (view1, view2)))
    for name, value in half.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, full[name], rtol=0.05, atol=0.01)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=0), 'in_channels must be a positive integer, got 0'),
    (dict(in_channels=True), 'in_channels .* got True'),
    (dict(proj_channels=1.5), 'proj_channels .* got 1.5'),
    (dict(view_scale=0.5), 'not both'),
    (dict(view_size=(0, 8)), r'view_size=\(0, 8\)'),
    (dict(view_size=(True, 8)), r'view_size=\(True, 8\)'),
    (dict(view_size=None, view_scale=1.5), 'view_scale=1.5'),
    (dict(bg_score=0), 'bg_score must be a positive number, got 0'),
    (dict(bg_score='0.2'), 'bg_score'),
    (dict(topk_ratio=0), 'topk_ratio'),
    (dict(num_negatives=-1), 'num_negatives'),
    (dict(semi_hard_ratio=0.3), 'semi_hard_ratio'),
    (dict(class_mean='mean'), 'class_mean'),
    (dict(bg_prototype='zero'), 'bg_prototype'),
    (dict(loss_name='ppc'), 'loss_name'),
    (dict(loss_weight=dict(cross=1.0)), 'loss_weight'),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PixelPrototypeContrast(**dict(dict(in_channels=4), **kwargs))


def test_bad_views_are_named():
    gen = torch.Generator().manual_seed(0)
    view1, view2 = _views(gen)
    ppc = PixelPrototypeContrast(in_channels=8, view_size=None)
    with pytest.raises(ValueError, match='in_channels=8'):
        ppc(None, None, torch.ones(2, 3), (view1, view2))
    ppc = PixelPrototypeContrast(in_channels=6, view_size=None)
    with pytest.raises(ValueError, match='view 2'):
        ppc(None, None, torch.ones(2, 3),
            (view1, ContrastView(view2.feats, view2.cam[:, :2])))


# --------------------------------------------------------------------------
# attached to CAM methods

NUM_CLASSES = 4
LABELS = torch.tensor([[1., 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1],
                       [0, 0, 1, 0]])
PPC = dict(type='PixelPrototypeContrast', in_channels=512, view_size=(32, 32))
BACKBONE = dict(type='ResNet', depth=18, strides=(1, 2, 2, 1),
                dilations=(1, 1, 1, 2), frozen_stages=-1, norm_eval=False)


def _samples(labels):
    samples = []
    for label in labels:
        sample = WSSSDataSample(metainfo=dict(img_shape=(64, 64),
                                              ori_shape=(64, 64)))
        sample.gt_label = label
        samples.append(sample)
    return samples


def _cam_classifier(aux_losses):
    init_default_scope('wsstool')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='CAMClassifier', backbone=BACKBONE,
        head=dict(type='CAMHead', in_channels=512, num_classes=NUM_CLASSES),
        aux_losses=aux_losses)).train()


def _check_attached(model, losses, images):
    ppc_terms = {'loss_cross', 'loss_cross2', 'loss_intra'}
    assert ppc_terms <= set(losses)
    # the host passes view 1; view 2 comes from the loss: same values as
    # the loss computing both views from the model
    torch.manual_seed(2)
    direct = model.aux_losses[0](model, images, LABELS, (None, None))
    for name in ppc_terms:
        torch.testing.assert_close(losses[name], direct[name])
    sum(losses.values()).backward()
    assert model.aux_losses[0].fc_proj.weight.grad.abs().sum() > 0
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0
    assert 'aux_losses.0.fc_proj.weight' in dict(model.named_parameters())
    wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.01),
                    paramwise_cfg=dict(custom_keys={
                        'aux_losses.0.fc_proj': dict(lr_mult=10.0)})))
    fc_proj = model.aux_losses[0].fc_proj.weight
    groups = [g for g in wrapper.optimizer.param_groups
              if any(p is fc_proj for p in g['params'])]
    assert len(groups) == 1 and groups[0]['lr'] == pytest.approx(0.1)


def test_attached_to_the_cam_baseline():
    model = _cam_classifier([PPC])
    images = torch.randn(4, 3, 64, 64,
                         generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    losses = model.loss(images, _samples(LABELS))
    assert set(losses) == {'loss_cls', 'loss_cross', 'loss_cross2',
                           'loss_intra'}
    _check_attached(model, losses, images)


def _gpp_method(method, with_background):
    init_default_scope('wsstool')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type=method, backbone=BACKBONE,
        head=dict(type='GPPCAMHead', in_channels=512, mid_channels=32,
                  num_classes=NUM_CLASSES, with_background=with_background,
                  pooling=dict(type='GlobalAvgPool')),
        erase_start_epoch=1, aux_losses=[PPC])).train()


def test_attached_to_ktse():
    model = _gpp_method('KTSE', with_background=True)
    gen = torch.Generator().manual_seed(1)
    images, partners = torch.randn(2, 4, 3, 64, 64, generator=gen)
    torch.manual_seed(2)  # before T: classification and PPC
    losses = model.loss(images, _samples(LABELS), partner_inputs=partners,
                        partner_data_samples=_samples(LABELS))
    assert set(losses) == {'loss_cls', 'loss_cross', 'loss_cross2',
                           'loss_intra'}
    _check_attached(model, losses, images)


def test_attached_to_aeft():
    model = _gpp_method('AEFT', with_background=False)
    images = torch.randn(4, 3, 64, 64,
                         generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # before T: classification and PPC
    losses = model.loss(images, _samples(LABELS))
    assert set(losses) == {'loss_cls', 'loss_cross', 'loss_cross2',
                           'loss_intra'}
    _check_attached(model, losses, images)
    # from T on, next to the erasing terms
    model.set_epoch(1)
    model.zero_grad()
    assert set(model.loss(images, _samples(LABELS))) == {
        'loss_cls', 'loss_cross', 'loss_cross2', 'loss_intra',
        'loss_attraction', 'loss_repulsion'}


def test_projection_is_initialised_with_the_model():
    """fc_proj gets PPC's Xavier-uniform init from the host's
    init_weights: bound sqrt(6 / (512 + 128)), above PyTorch's default
    bound 1 / sqrt(512)."""
    model = _cam_classifier([PPC])
    weight = model.aux_losses[0].fc_proj.weight
    assert weight.abs().max() <= 512**-0.5
    model.init_weights()
    bound = (6 / (512 + 128))**0.5
    assert 0.95 * bound < weight.abs().max() <= bound


def test_cam_classifier_aux_loss_hook_errors():
    with pytest.raises(ValueError, match='aux_losses must be a list'):
        _cam_classifier(PPC)
    model = _cam_classifier([PPC, PPC])
    images = torch.randn(4, 3, 64, 64)
    with pytest.raises(ValueError, match=r"aux_losses\[1\] "
                       r"\(PixelPrototypeContrast\) returns the term "
                       r"'loss_cross', already returned by aux_losses\[0\]"):
        model.loss(images, _samples(LABELS))
    model = _cam_classifier([PPC, dict(PPC, loss_name='loss_ppc2')])
    assert {'loss_cross', 'loss_ppc2_cross', 'loss_ppc2_intra'} <= set(
        model.loss(images, _samples(LABELS)))


@pytest.mark.parametrize('name', [
    'ppc_cam_r18_1xb16-12e_synthvoc-128x128.py',
    'ppc_ktse_r18_1xb16-12e_synthvoc-128x128.py',
    'ppc_seam_r18_1xb16-12e_synthvoc-128x128.py',
    'ppc_seam_r38d_1xb8-8e_voc12aug-448x448.py',
])
def test_configs_build_with_ppc_attached(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ppc', name))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    ppc = model.aux_losses[0]
    assert isinstance(ppc, PixelPrototypeContrast)
    assert ppc.fc_proj.in_channels == model.head.in_channels
    if 'seam' in name:
        # SEAM passes its own view 2, sized by its options
        assert not ppc.makes_second_view
        if 'voc12aug' in name:
            assert (model.view_size, model.view_scale) == ((128, 128), None)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert any(p is ppc.fc_proj.weight for g in wrapper.optimizer.param_groups
               for p in g['params'])
