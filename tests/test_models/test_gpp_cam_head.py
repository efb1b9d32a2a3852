import math

import pytest
import torch
import torch.nn.functional as F

from wsstool.models.heads import CAMHead, CAMHeadOutput, GPPCAMHead
from wsstool.models.poolings import GatedPyramidPool, GlobalAvgPool
from wsstool.registry import MODELS


def _feats(in_channels=8):
    torch.manual_seed(0)
    return (torch.randn(2, 3, 5, 6), torch.randn(2, in_channels, 5, 6))


def _head(**kwargs):
    torch.manual_seed(1)
    cfg = dict(type='GPPCAMHead', in_channels=8, mid_channels=6,
               num_classes=3)
    return MODELS.build(dict(cfg, **kwargs))


def _scores(head, x):
    """fc9(relu(fc8(x))) written as matrix products."""
    w8 = head.fc8.weight[:, :, 0, 0]
    w9 = head.fc9.weight[:, :, 0, 0]
    mid = torch.einsum('bchw,mc->bmhw', x, w8).clamp(min=0)
    return torch.einsum('bmhw,km->bkhw', mid, w9)


def test_forward_without_background():
    head = _head()
    feats = _feats()
    out = head(feats)
    assert isinstance(out, CAMHeadOutput) and out.seg is None
    assert isinstance(head.pooling, GatedPyramidPool)
    assert head.fc9.weight.shape == (3, 6, 1, 1)
    cam = _scores(head, feats[-1])
    torch.testing.assert_close(out.cam, cam)
    assert (out.cam < 0).any()  # raw maps, no ReLU
    logits, gpp = head.pooling(cam)
    torch.testing.assert_close(out.logits, logits)
    torch.testing.assert_close(out.pooled_map, gpp)


def test_forward_with_background_pools_foreground_only():
    head = _head(with_background=True)
    feats = _feats()
    out = head(feats)
    scores = _scores(head, feats[-1])
    assert head.fc9.weight.shape == (4, 6, 1, 1)
    torch.testing.assert_close(out.seg, scores)
    torch.testing.assert_close(out.cam, scores[:, 1:])
    reference = GatedPyramidPool(num_classes=3)
    reference.load_state_dict(head.pooling.state_dict())
    logits, gpp = reference(scores[:, 1:])
    torch.testing.assert_close(out.logits, logits)
    torch.testing.assert_close(out.pooled_map, gpp)


def test_global_avg_pool_head():
    head = _head(pooling=dict(type='GlobalAvgPool'))
    out = head(_feats())
    assert isinstance(head.pooling, GlobalAvgPool)
    assert head.pooling.num_classes == 3
    torch.testing.assert_close(out.logits, out.cam.mean(dim=(2, 3)))
    assert out.pooled_map is out.cam


def test_pooling_receives_num_classes():
    head = _head()
    assert head.pooling.num_classes == 3
    assert head.pooling.gconv1.att_p[0].weight.shape == (2, 6, 3, 3)
    with pytest.raises(ValueError, match='num_classes=3 but pooling.num_'
                       'classes=4'):
        _head(pooling=dict(type='GatedPyramidPool', num_classes=4))


def test_in_index_selects_the_feature_map():
    head = _head(in_channels=3, in_index=0)
    feats = _feats()
    torch.testing.assert_close(head(feats).cam, _scores(head, feats[0]))


def test_loss_is_bce_with_logits_mean():
    head = _head(loss_cls=dict(type='MultiLabelSoftMarginLoss',
                               loss_weight=0.5))
    feats = _feats()
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    losses = head.loss(feats, labels)
    assert set(losses) == {'loss_cls'}
    expected = 0.5 * F.binary_cross_entropy_with_logits(
        head(feats).logits, labels)
    torch.testing.assert_close(losses['loss_cls'], expected)


def test_bn8_is_frozen_unused_and_every_trainable_param_gets_gradient():
    head = _head(with_background=True)
    feats = _feats()
    assert not any(p.requires_grad for p in head.bn8.parameters())
    before = head(feats).seg
    with torch.no_grad():
        head.bn8.weight.fill_(3.0)
        head.bn8.running_mean.fill_(5.0)
    torch.testing.assert_close(head(feats).seg, before)

    head.loss(feats, torch.tensor([[1., 0, 1], [0, 1, 0]]))['loss_cls'] \
        .backward()
    trainable = {n for n, p in head.named_parameters() if p.requires_grad}
    assert trainable == {
        'fc8.weight', 'fc9.weight', *(f'pooling.gconv{i}.att_{s}.0.weight'
                                      for i in (1, 2, 3) for s in 'pn')
    }
    for name, param in head.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_default_init_is_xavier_on_fc8_fc9_only():
    torch.manual_seed(0)
    head = GPPCAMHead(in_channels=512, mid_channels=64, num_classes=20)
    gate = head.pooling.gconv1.att_p[0].weight.clone()
    head.init_weights()
    for conv, fan_in, fan_out in ((head.fc8, 512, 64), (head.fc9, 64, 20)):
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert bound * 0.9 < conv.weight.abs().max() <= bound
    torch.testing.assert_close(head.pooling.gconv1.att_p[0].weight, gate)
    assert head.fc8.bias is None and head.fc9.bias is None


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_classes=0), 'num_classes must be a positive integer, got 0'),
    (dict(with_background='yes'), "with_background must be True or False, "
     "got 'yes'"),
])
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _head(**kwargs)


@pytest.mark.parametrize('head', [
    CAMHead(in_channels=8, num_classes=3),
    GPPCAMHead(in_channels=8, mid_channels=6, num_classes=3,
               with_background=True),
])
def test_cam_and_logits_protocol(head):
    """Every CAM head returns raw (B, C, h, w) maps and (B, C) logits."""
    feats = _feats()
    head.eval()
    cam, logits = head.cam_and_logits(feats)
    assert cam.shape == (2, 3, 5, 6) and logits.shape == (2, 3)
    assert (cam < 0).any()
    if isinstance(head, CAMHead):
        torch.testing.assert_close(F.relu(cam), head.cam(feats))
        torch.testing.assert_close(logits, cam.mean(dim=(2, 3)))
    else:
        out = head(feats)
        torch.testing.assert_close(cam, out.cam)
        torch.testing.assert_close(logits, out.logits)
