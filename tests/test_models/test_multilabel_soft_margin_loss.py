import pytest
import torch
import torch.nn.functional as F

from wsstool.registry import MODELS


def test_matches_torch_multilabel_soft_margin_loss():
    torch.manual_seed(0)
    logits = torch.randn(4, 6, requires_grad=True)
    labels = (torch.rand(4, 6) > 0.5).float()
    loss = MODELS.build(dict(type='MultiLabelSoftMarginLoss'))(logits, labels)
    expected = F.multilabel_soft_margin_loss(logits, labels)
    torch.testing.assert_close(loss, expected)
    grad, = torch.autograd.grad(loss, logits)
    expected_grad, = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad)


def test_loss_weight_and_hand_value():
    loss_fn = MODELS.build(
        dict(type='MultiLabelSoftMarginLoss', loss_weight=2.0))
    # one image, classes (logit 0, label 1) and (logit 0, label 0):
    # each term is log 2
    loss = loss_fn(torch.zeros(1, 2), torch.tensor([[1., 0.]]))
    torch.testing.assert_close(loss, torch.tensor(2.0).log() * 2)


def test_shape_mismatch_is_reported():
    loss_fn = MODELS.build(dict(type='MultiLabelSoftMarginLoss'))
    with pytest.raises(ValueError, match=r'\(2, 3\).*\(2, 4\)'):
        loss_fn(torch.zeros(2, 3), torch.zeros(2, 4))
