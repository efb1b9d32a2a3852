import math

import torch
import torch.nn.functional as F

from wsstool.models.heads import CAMHead
from wsstool.registry import MODELS


def _head_and_feats():
    torch.manual_seed(0)
    head = CAMHead(in_channels=8, num_classes=4)
    feats = (torch.randn(3, 6, 5, 7), torch.randn(3, 8, 5, 7))
    return head, feats


def test_logits_are_gap_of_pre_relu_cam():
    head, feats = _head_and_feats()
    weight = head.conv_cls.weight[:, :, 0, 0]
    pre_relu = torch.einsum('bchw,kc->bkhw', feats[-1], weight)
    torch.testing.assert_close(head(feats), pre_relu.mean(dim=(2, 3)))
    torch.testing.assert_close(head.cam(feats), pre_relu.clamp(min=0))
    assert head.cam(feats).shape == (3, 4, 5, 7)


def test_in_index_selects_the_feature_map():
    head = CAMHead(in_channels=6, num_classes=2, in_index=0)
    _, feats = _head_and_feats()
    assert head.cam(feats).shape == (3, 2, 5, 7)


def test_loss_is_weighted_multilabel_soft_margin():
    head = MODELS.build(dict(
        type='CAMHead', in_channels=8, num_classes=4,
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=0.5)))
    _, feats = _head_and_feats()
    labels = torch.tensor([[1., 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]])
    losses = head.loss(feats, labels)
    assert set(losses) == {'loss_cls'}
    expected = 0.5 * F.multilabel_soft_margin_loss(head(feats), labels)
    torch.testing.assert_close(losses['loss_cls'], expected)


def test_default_init_is_xavier_uniform():
    torch.manual_seed(0)
    head = CAMHead(in_channels=512, num_classes=20)
    head.init_weights()
    bound = math.sqrt(6 / (512 + 20))
    weight = head.conv_cls.weight
    assert weight.abs().max() <= bound
    # PyTorch's default bound 1/sqrt(512) is ~2.4x smaller
    assert weight.abs().max() > 0.9 * bound
    assert head.conv_cls.bias is None


def test_init_cfg_none_keeps_pytorch_default():
    torch.manual_seed(0)
    head = CAMHead(in_channels=512, num_classes=20, init_cfg=None)
    head.init_weights()
    assert head.conv_cls.weight.abs().max() <= 1 / math.sqrt(512)


def test_dropout_only_in_training_and_never_on_cams():
    torch.manual_seed(0)
    head = CAMHead(in_channels=8, num_classes=3, dropout_ratio=0.5)
    feats = (torch.rand(2, 8, 5, 5) + 0.5, )
    head.train()
    cams = head.cam(feats)
    # whole channels are dropped (Dropout2d), so logits change in training
    assert not torch.allclose(head(feats), head(feats))
    torch.testing.assert_close(head.cam(feats), cams)
    head.eval()
    expected = F.conv2d(feats[0].mean(dim=(2, 3), keepdim=True),
                        head.conv_cls.weight).flatten(1)
    torch.testing.assert_close(head(feats), expected)


def test_cam_and_logits_one_dropout_draw_maps_undropped():
    """In training the maps read the undropped feature and the logits its
    channel-dropped copy, drawn once (as ``forward``)."""
    head = CAMHead(in_channels=8, num_classes=3, dropout_ratio=0.5).train()
    feats = (torch.rand(2, 8, 5, 5) + 0.5, )
    torch.manual_seed(1)
    cam, logits = head.cam_and_logits(feats)
    torch.manual_seed(1)
    torch.testing.assert_close(logits, head(feats))
    torch.testing.assert_close(cam, F.conv2d(feats[0], head.conv_cls.weight))
    torch.manual_seed(1)
    mask = F.dropout2d(torch.ones(2, 8, 1, 1), 0.5, training=True)
    assert 0 < (mask == 0).sum() < 16
    torch.testing.assert_close(
        logits, F.conv2d(feats[0] * mask, head.conv_cls.weight).mean(
            dim=(2, 3)))
