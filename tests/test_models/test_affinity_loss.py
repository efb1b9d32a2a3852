"""AffinityLoss against a loop over the pairs."""
import math

import pytest
import torch

from wsstool.models.losses.affinity_loss import AffinityLoss
from wsstool.registry import MODELS


def _term_loop(affinity, pairs, negative):
    """Mean over the pairs of -log(a + 1e-5) or -log(1 + 1e-5 - a)."""
    total, count = 0.0, 0
    for a, is_pair in zip(affinity.flatten().tolist(),
                          pairs.flatten().tolist()):
        if is_pair:
            total -= math.log(1 + 1e-5 - a if negative else a + 1e-5)
            count += 1
    return total / (count + 1e-5)


def test_affinity_loss_matches_loop():
    torch.manual_seed(0)
    affinity = torch.rand(2, 3, 4, 5, requires_grad=True)
    kind = torch.randint(0, 4, affinity.shape)  # 3: no pair
    bg_pos, fg_pos, neg = kind == 0, kind == 1, kind == 2
    loss = MODELS.build(dict(type='AffinityLoss', loss_weight=2.0))
    losses = loss(affinity, bg_pos, fg_pos, neg)
    a = affinity.detach()
    expected = dict(loss_aff_bg=2.0 / 4 * _term_loop(a, bg_pos, False),
                    loss_aff_fg=2.0 / 4 * _term_loop(a, fg_pos, False),
                    loss_aff_neg=2.0 / 2 * _term_loop(a, neg, True))
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5)
    sum(losses.values()).backward()
    assert affinity.grad[kind == 3].eq(0).all()
    assert affinity.grad[kind < 2].lt(0).all()  # positives pull a up
    assert affinity.grad[kind == 2].gt(0).all()


def test_affinity_loss_by_hand():
    affinity = torch.tensor([[[[0.8, 0.5]]]])
    bg_pos = torch.tensor([[[[True, False]]]])
    neg = torch.tensor([[[[False, True]]]])
    losses = AffinityLoss()(affinity, bg_pos, torch.zeros_like(bg_pos), neg)
    assert losses['loss_aff_bg'].item() == pytest.approx(
        -math.log(0.8 + 1e-5) / (1 + 1e-5) / 4, rel=1e-5)
    assert losses['loss_aff_fg'].item() == 0
    assert losses['loss_aff_neg'].item() == pytest.approx(
        -math.log(0.5 + 1e-5) / (1 + 1e-5) / 2, rel=1e-5)


def test_empty_pair_sets_give_zero():
    affinity = torch.rand(1, 2, 3, 3, requires_grad=True)
    none = torch.zeros(affinity.shape, dtype=torch.bool)
    losses = AffinityLoss()(affinity, none, none, none)
    assert all(value.item() == 0 for value in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(affinity.grad).all()


def test_affinity_loss_errors():
    affinity = torch.rand(1, 2, 3, 3)
    pairs = torch.zeros(affinity.shape, dtype=torch.bool)
    with pytest.raises(ValueError, match='fg_pos'):
        AffinityLoss()(affinity, pairs, pairs[..., :2], pairs)
    with pytest.raises(TypeError, match='neg must be a bool mask'):
        AffinityLoss()(affinity, pairs, pairs, pairs.float())
