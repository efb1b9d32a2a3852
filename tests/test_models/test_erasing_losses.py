"""Losses of the erasing methods (AEFT, KTSE, KTSE+) against loop-based
re-computations."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsstool.registry import MODELS

EPS = 1e-5


def _labels():
    return torch.tensor([[1., 0, 1], [0, 1, 0]])


# --------------------------------------------------------------------------
# GAPAlignmentLoss
# --------------------------------------------------------------------------
def _gap_alignment_by_loops(maps, erased, labels, weight):
    maps, erased, labels = maps.numpy(), erased.numpy(), labels.numpy()
    total = 0.0
    for b in range(maps.shape[0]):
        for c in range(maps.shape[1]):
            gap = np.maximum(maps[b, c], 0).sum() / maps[b, c].size
            gap_m = np.maximum(erased[b, c], 0).sum() / erased[b, c].size
            total += abs(gap * labels[b, c] - gap_m * labels[b, c])
    return weight * total / labels.size


def test_gap_alignment_matches_loops():
    torch.manual_seed(0)
    maps, erased = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    loss_fn = MODELS.build(dict(type='GAPAlignmentLoss', loss_weight=0.2))
    expected = _gap_alignment_by_loops(maps, erased, _labels(), 0.2)
    assert loss_fn(maps, erased, _labels()).item() == pytest.approx(
        expected, rel=1e-5)


def test_gap_alignment_hand_value():
    # class 0 present: GAP(relu([2, -2, 4, 0])) = 1.5 vs GAP(relu(0)) = 0;
    # class 1 absent is ignored -> |1.5 - 0| / (B * C = 2)
    maps = torch.tensor([[[[2., -2], [4, 0]], [[9., 9], [9, 9]]]])
    erased = torch.zeros(1, 2, 2, 2)
    loss = MODELS.build(dict(type='GAPAlignmentLoss'))(
        maps, erased, torch.tensor([[1., 0]]))
    assert loss.item() == pytest.approx(0.75)


@pytest.mark.parametrize('detach_target', [False, True])
def test_gap_alignment_detach_target(detach_target):
    torch.manual_seed(1)
    maps = torch.rand(2, 3, 3, 3, requires_grad=True)
    erased = torch.rand(2, 3, 3, 3, requires_grad=True)
    loss_fn = MODELS.build(
        dict(type='GAPAlignmentLoss', detach_target=detach_target))
    loss_fn(maps, erased, _labels()).backward()
    assert erased.grad.abs().sum() > 0
    if detach_target:
        assert maps.grad is None
    else:
        assert maps.grad.abs().sum() > 0


def test_gap_alignment_rejects_label_mismatch():
    loss_fn = MODELS.build(dict(type='GAPAlignmentLoss'))
    with pytest.raises(ValueError, match=r'labels \(B, C\).*\(2, 4\)'):
        loss_fn(torch.zeros(2, 3, 2, 2), torch.zeros(2, 3, 2, 2),
                torch.zeros(2, 4))


# --------------------------------------------------------------------------
# ActivationHingeLoss
# --------------------------------------------------------------------------
def _hinge_by_loops(target, source, labels, mask, weight, margin, scale):
    target, source, labels = target.numpy(), source.numpy(), labels.numpy()
    num_b, num_c, height, width = target.shape
    total = 0.0
    for b in range(num_b):
        for c in range(num_c):
            for i in range(height):
                for j in range(width):
                    t, s = target[b, c, i, j], source[b, c, i, j]
                    m = 1.0 if mask is None else mask[b, 0, i, j].item()
                    total += max(scale * t * m - s * m - margin,
                                 0.0) * labels[b, c]
    return weight * total / target.size


@pytest.mark.parametrize('with_mask', [False, True])
@pytest.mark.parametrize('margin,scale', [(0.05, 1.0), (0.05, 1.3),
                                          (0.0, 1.0), (0.2, 1.3)])
def test_activation_hinge_matches_loops(with_mask, margin, scale):
    torch.manual_seed(2)
    target, source = torch.randn(2, 3, 3, 4), torch.randn(2, 3, 3, 4)
    mask = (torch.rand(2, 1, 3, 4) > 0.4).float() if with_mask else None
    loss_fn = MODELS.build(
        dict(type='ActivationHingeLoss', loss_weight=0.7, margin=margin,
             scale=scale))
    expected = _hinge_by_loops(target, source, _labels(), mask, 0.7, margin,
                               scale)
    loss = loss_fn(target, source, _labels(), mask)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0


def test_activation_hinge_hand_values():
    # one present class, two pixels; pixel 1 is masked out
    target = torch.tensor([[[[1.0, 5.0]]]])
    source = torch.tensor([[[[0.5, -3.0]]]])
    mask = torch.tensor([[[[1.0, 0.0]]]])
    labels = torch.tensor([[1.0]])
    plain = MODELS.build(dict(type='ActivationHingeLoss'))
    # (relu(1 - 0.5 - 0.05) + relu(0 - 0 - 0.05)) / 2
    assert plain(target, source, labels, mask).item() == pytest.approx(0.225)
    scaled = MODELS.build(dict(type='ActivationHingeLoss', scale=1.3))
    # relu(1.3 - 0.5 - 0.05) / 2
    assert scaled(target, source, labels, mask).item() == pytest.approx(0.375)
    # without mask pixel 1: relu(5 + 3 - 0.05) = 7.95
    assert plain(target, source, labels).item() == pytest.approx(
        (0.45 + 7.95) / 2)
    # the absent class contributes nothing
    assert plain(target, source, torch.tensor([[0.0]])).item() == 0


@pytest.mark.parametrize('detach_reference', [False, True])
def test_activation_hinge_detach_reference(detach_reference):
    target = torch.full((1, 1, 2, 2), 2.0, requires_grad=True)
    source = torch.zeros(1, 1, 2, 2, requires_grad=True)
    loss_fn = MODELS.build(
        dict(type='ActivationHingeLoss', detach_reference=detach_reference))
    loss_fn(target, source, torch.ones(1, 1)).backward()
    # d/d source of mean relu(t - s - m) over 4 active entries = -1/4
    torch.testing.assert_close(source.grad, torch.full((1, 1, 2, 2), -0.25))
    if detach_reference:
        assert target.grad is None
    else:
        torch.testing.assert_close(target.grad,
                                   torch.full((1, 1, 2, 2), 0.25))


def test_activation_hinge_rejects_bad_mask():
    loss_fn = MODELS.build(dict(type='ActivationHingeLoss'))
    with pytest.raises(ValueError, match=r'mask.*\(2, 1, 3, 3\)'):
        loss_fn(torch.zeros(2, 3, 3, 3), torch.zeros(2, 3, 3, 3), _labels(),
                torch.zeros(2, 3, 3, 3))


# --------------------------------------------------------------------------
# TripletRepulsionLoss
# --------------------------------------------------------------------------
def _repulsion_by_loops(pooled, cam, labels, negative_index, loss_weight,
                        margin, low_thr, high_thr, min_hard_pairs):
    pooled, cam, labels = pooled.numpy(), cam.numpy(), labels.numpy()
    num_b, num_c = labels.shape

    def region_means(b):
        anchor, negative = np.zeros(num_c), np.zeros(num_c)
        for c in range(num_c):
            r = np.maximum(cam[b, c], 0)
            low, high = r.min(), r.max()
            norm = np.maximum(r - low - EPS, 0) / (high - low + EPS)
            norm = norm * labels[b, c]
            feat = pooled[b, c] / (np.abs(pooled[b, c]).max() + EPS)
            in_a, in_n = norm < low_thr, norm < high_thr
            anchor[c] = feat[in_a].sum() / (in_a.sum() + EPS) * labels[b, c]
            negative[c] = feat[in_n].sum() / (in_n.sum() + EPS) * labels[b, c]
        return anchor, negative

    means = [region_means(b) for b in range(num_b)]
    hinges = []
    for b, j in enumerate(negative_index.tolist()):
        if j < 0:
            continue
        dist = ((means[b][0] - means[j][1])**2).sum()
        if dist < margin:
            hinges.append(max(margin - dist, 0.0))
    if len(hinges) < min_hard_pairs:
        return 0.0
    return loss_weight * sum(hinges) / len(hinges)


def test_triplet_repulsion_matches_loops_on_random_maps():
    torch.manual_seed(3)
    pooled, cam = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)
    labels = torch.tensor([[1., 0, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0]])
    negative_index = torch.tensor([1, 0, 3, -1])
    cfg = dict(loss_weight=0.15, margin=2.0, low_thr=0.3, high_thr=0.9,
               min_hard_pairs=1)
    loss = MODELS.build(dict(type='TripletRepulsionLoss', **cfg))(
        pooled, cam, labels, negative_index)
    expected = _repulsion_by_loops(pooled, cam, labels, negative_index,
                                   **cfg)
    assert expected > 0
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def _gate_batch(num_hard):
    """Six class-0 anchors (``num_hard`` hard ones) whose negative is a
    class-1 image with an all-zero GPP map; anchors use a single-peak CAM.

    A hard anchor has a +-1 checkerboard GPP map (anchor-region mean
    -1/15, distance 1/225 < 0.5); an easy one a constant map (distance ~1).
    """
    size = 4
    cam = torch.zeros(8, 2, size, size)
    cam[:, :, 0, 0] = 1.0
    checker = (torch.arange(size)[:, None] + torch.arange(size)) % 2
    pooled = torch.zeros(8, 2, size, size)
    for b in range(6):
        pooled[b] = 1 - 2 * checker.float() if b < num_hard else 1.0
    labels = torch.tensor([[1., 0]] * 6 + [[0., 1]] * 2)
    negative_index = torch.tensor([6] * 6 + [-1, -1])
    return pooled, cam, labels, negative_index


def test_triplet_repulsion_gate_four_vs_five_hard_pairs():
    loss_fn = MODELS.build(dict(type='TripletRepulsionLoss'))
    pooled, cam, labels, negative_index = _gate_batch(num_hard=4)
    pooled.requires_grad_()
    loss = loss_fn(pooled, cam, labels, negative_index)
    assert loss.item() == 0
    loss.backward()  # a zero still carries a graph to the GPP map
    assert torch.count_nonzero(pooled.grad) == 0

    pooled, cam, labels, negative_index = _gate_batch(num_hard=5)
    loss = loss_fn(pooled, cam, labels, negative_index)
    # checkerboard without the peak pixel (+1): 7 x (+1), 8 x (-1)
    dist = (1 / 15)**2
    assert loss.item() == pytest.approx(0.15 * (0.5 - dist), rel=1e-4)
    assert loss.item() == pytest.approx(
        _repulsion_by_loops(pooled, cam, labels, negative_index, 0.15, 0.5,
                            0.2, 1.0, 5),
        rel=1e-6)


def test_triplet_repulsion_skips_anchors_without_negative():
    loss_fn = MODELS.build(dict(type='TripletRepulsionLoss'))
    pooled, cam, labels, negative_index = _gate_batch(num_hard=5)
    negative_index[0] = -1  # one hard anchor loses its negative: 4 left
    assert loss_fn(pooled, cam, labels, negative_index).item() == 0
    relaxed = MODELS.build(
        dict(type='TripletRepulsionLoss', min_hard_pairs=4))
    assert relaxed(pooled, cam, labels, negative_index).item() == \
        pytest.approx(0.15 * (0.5 - (1 / 15)**2), rel=1e-4)


def test_triplet_repulsion_gradient_reaches_only_the_gpp_map():
    pooled, cam, labels, negative_index = _gate_batch(num_hard=6)
    pooled.requires_grad_()
    cam.requires_grad_()
    MODELS.build(dict(type='TripletRepulsionLoss'))(
        pooled, cam, labels, negative_index).backward()
    assert pooled.grad.abs().sum() > 0
    assert cam.grad is None


def test_triplet_repulsion_rejects_bad_negative_index():
    loss_fn = MODELS.build(dict(type='TripletRepulsionLoss'))
    with pytest.raises(ValueError, match='negative_index'):
        loss_fn(torch.zeros(2, 3, 2, 2), torch.zeros(2, 3, 2, 2), _labels(),
                torch.tensor([1.0, 0.0]))


# --------------------------------------------------------------------------
# SelfSupervisedSegLoss
# --------------------------------------------------------------------------
def _ce(logits, target):
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def _ssr_by_loops(seg_logits, pseudo_labels, labels, fg_cam, relu_logits,
                  weights=(1.0, 0.0125, 0.005), thr=0.2,
                  fg_single_class_only=True):
    logits = seg_logits.tolist()
    num_b, num_k, height, width = seg_logits.shape
    bg, fg, inter, num_inter = [], [], 0.0, 0
    for b in range(num_b):
        num_present = int(labels[b].sum().item())
        for i in range(height):
            for j in range(width):
                pix = [logits[b][k][i][j] for k in range(num_k)]
                if relu_logits:
                    pix = [max(v, 0.0) for v in pix]
                label = int(pseudo_labels[b, i, j])
                if label == 0:
                    bg.append(_ce(pix, 0))
                elif label != 255 and (num_present == 1
                                       or not fg_single_class_only):
                    fg.append(_ce(pix, label))
                if num_present > 1 and fg_cam[b, 0, i, j] > thr:
                    ranked = sorted(pix[1:])
                    inter += ranked[-2] - ranked[-1]
                    num_inter += 1
    return (weights[0] * sum(bg) / len(bg), weights[1] * sum(fg) / len(fg),
            weights[2] * inter / (num_inter + EPS))


def _ssr_batch():
    torch.manual_seed(4)
    seg_logits = torch.randn(2, 4, 3, 3) * 2
    # image 0: single class (class 1 -> id 2); image 1: classes 0 and 2
    labels = torch.tensor([[0., 1, 0], [1, 0, 1]])
    pseudo_labels = torch.tensor([[[0, 0, 2], [2, 255, 2], [0, 255, 0]],
                                  [[1, 1, 0], [3, 255, 0], [0, 3, 3]]])
    fg_cam = torch.tensor([[0.9, 0.1, 0.5], [0.3, 0.2, 0.0],
                           [0.7, 0.25, 0.05]]).expand(2, 1, 3, 3)
    return seg_logits, pseudo_labels, labels, fg_cam


@pytest.mark.parametrize('relu_logits', [True, False])
@pytest.mark.parametrize('fg_single_class_only', [True, False])
def test_ssr_matches_loops(relu_logits, fg_single_class_only):
    seg_logits, pseudo_labels, labels, fg_cam = _ssr_batch()
    losses = MODELS.build(
        dict(type='SelfSupervisedSegLoss', relu_logits=relu_logits,
             fg_single_class_only=fg_single_class_only))(
                 seg_logits, pseudo_labels, labels, fg_cam)
    assert list(losses) == ['loss_seg_bg', 'loss_seg_fg', 'loss_seg_inter']
    expected = _ssr_by_loops(seg_logits, pseudo_labels, labels, fg_cam,
                             relu_logits,
                             fg_single_class_only=fg_single_class_only)
    for value, want in zip(losses.values(), expected):
        assert value.item() == pytest.approx(want, rel=1e-5, abs=1e-7)
    assert expected[2] < 0  # the runner-up lies below the winner


def test_ssr_inter_gradient_reaches_only_the_runner_up():
    seg_logits, pseudo_labels, labels, fg_cam = _ssr_batch()
    seg_logits = seg_logits.abs().requires_grad_()  # ReLU is the identity
    loss_fn = MODELS.build(
        dict(type='SelfSupervisedSegLoss', bg_weight=0.0, fg_weight=0.0,
             inter_weight=1.0))
    sum(loss_fn(seg_logits, pseudo_labels, labels, fg_cam).values()).backward()
    region = [(i, j) for i in range(3) for j in range(3)
              if fg_cam[1, 0, i, j] > 0.2]
    expected = torch.zeros_like(seg_logits)
    for i, j in region:
        runner_up = 1 + seg_logits[1, 1:, i, j].argsort()[-2]
        expected[1, runner_up, i, j] = 1 / (len(region) + EPS)
    torch.testing.assert_close(seg_logits.grad, expected)


def test_ssr_batch_without_single_or_multi_class_images():
    seg_logits, pseudo_labels, _, fg_cam = _ssr_batch()
    seg_logits.requires_grad_()
    loss_fn = MODELS.build(dict(type='SelfSupervisedSegLoss'))
    both_multi = torch.tensor([[1., 1, 0], [1, 0, 1]])
    losses = loss_fn(seg_logits, pseudo_labels, both_multi, fg_cam)
    assert losses['loss_seg_fg'].item() == 0
    assert losses['loss_seg_fg'].requires_grad
    both_single = torch.tensor([[0., 1, 0], [1, 0, 0]])
    losses = loss_fn(seg_logits, pseudo_labels, both_single, fg_cam)
    assert losses['loss_seg_inter'].item() == 0
    sum(losses.values()).backward()
    assert torch.isfinite(seg_logits.grad).all()


def test_ssr_all_ignored_pixels_give_zero_not_nan():
    seg_logits, _, labels, fg_cam = _ssr_batch()
    ignored = torch.full((2, 3, 3), 255)
    losses = MODELS.build(dict(type='SelfSupervisedSegLoss'))(
        seg_logits, ignored, labels, fg_cam)
    assert losses['loss_seg_bg'].item() == 0
    assert losses['loss_seg_fg'].item() == 0


def test_ssr_inter_term_skipped_and_renamed():
    seg_logits, pseudo_labels, labels, fg_cam = _ssr_batch()
    default = MODELS.build(dict(type='SelfSupervisedSegLoss'))
    assert set(default(seg_logits, pseudo_labels, labels)) == {
        'loss_seg_bg', 'loss_seg_fg'
    }
    two = MODELS.build(
        dict(type='SelfSupervisedSegLoss', inter_weight=0.0,
             loss_name='loss_seg_two'))
    assert set(two(seg_logits, pseudo_labels, labels, fg_cam)) == {
        'loss_seg_two_bg', 'loss_seg_two_fg'
    }


def test_ssr_rejects_bad_inputs():
    with pytest.raises(ValueError, match='loss_name'):
        MODELS.build(dict(type='SelfSupervisedSegLoss', loss_name='seg'))
    seg_logits, pseudo_labels, labels, fg_cam = _ssr_batch()
    loss_fn = MODELS.build(dict(type='SelfSupervisedSegLoss'))
    with pytest.raises(ValueError, match=r'labels \(B, C\).*\(2, 4\)'):
        loss_fn(seg_logits, pseudo_labels, torch.zeros(2, 4), fg_cam)
    with pytest.raises(ValueError, match=r'fg_cam.*\(2, 1, 3, 3\)'):
        loss_fn(seg_logits, pseudo_labels, labels, fg_cam[:, :, :2])


def test_ssr_rectifies_then_upsamples_low_resolution_logits():
    """KTSE's P = up(relu(cam_seg)): the loss of feature-grid logits equals
    the loss of the rectified logits upsampled by hand."""
    torch.manual_seed(5)
    low = torch.randn(2, 4, 2, 2) * 2
    _, pseudo_labels, labels, fg_cam = _ssr_batch()
    pseudo_labels = pseudo_labels.repeat(1, 2, 2)[:, :4, :4]
    fg_cam = fg_cam.repeat(1, 1, 2, 2)[..., :4, :4]
    loss_fn = MODELS.build(dict(type='SelfSupervisedSegLoss'))
    by_hand = F.interpolate(low.relu(), size=(4, 4), mode='bilinear',
                            align_corners=False)
    expected = loss_fn(by_hand, pseudo_labels, labels, fg_cam)
    for name, value in loss_fn(low, pseudo_labels, labels, fg_cam).items():
        torch.testing.assert_close(value, expected[name])
    assert not torch.allclose(
        loss_fn(F.interpolate(low, size=(4, 4), mode='bilinear',
                              align_corners=False),
                pseudo_labels, labels, fg_cam)['loss_seg_bg'],
        expected['loss_seg_bg'])
