"""The auxiliary-loss example of docs/add_plugin.md attaches through
custom_imports to the CAM baseline and to SEAM."""
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'projects', 'scale_consistency',
                  'cam_r18-scale_1xb16-12e_synthvoc-128x128.py')
SEAM_CONFIG = osp.join(REPO, 'configs', 'seam',
                       'seam_r18_1xb16-12e_synthvoc-128x128.py')


def _minmax(cam):
    """minmax_train written out per map: relu, then (x - min) / (max - min)
    with SEAM's 1e-5 terms."""
    out = torch.empty_like(cam)
    for b in range(cam.shape[0]):
        for c in range(cam.shape[1]):
            x = cam[b, c].relu()
            lo, hi = x.min(), x.max()
            out[b, c] = (x - lo - 1e-5).relu() / (hi - lo + 1e-5)
    return out


def _batch(num_classes):
    gen = torch.Generator().manual_seed(0)
    labels = torch.zeros(2, num_classes)
    labels[0, 1] = labels[1, 3] = 1
    samples = [WSSSDataSample(metainfo=dict(img_shape=(64, 64)))
               for _ in range(2)]
    for sample, label in zip(samples, labels):
        sample.gt_label = label
    return torch.randn(2, 3, 64, 64, generator=gen), samples, labels


def test_loss_attached_to_the_cam_baseline_matches_its_formula():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports
    init_default_scope('wsstool')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    inputs, samples, labels = _batch(model.head.num_classes)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_scale'}

    small = F.interpolate(inputs, scale_factor=0.5, mode='bilinear')
    cam1 = model.head.cam_and_logits(model.backbone(inputs))[0]
    cam2 = model.head.cam_and_logits(model.backbone(small))[0]
    cam2 = _minmax(cam2)
    cam1 = F.interpolate(_minmax(cam1), size=cam2.shape[-2:],
                         mode='bilinear')
    expected = ((cam1 - cam2).abs() * labels[:, :, None, None]).mean()
    torch.testing.assert_close(losses['loss_scale'], expected)
    losses['loss_scale'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_loss_attached_to_seam_uses_its_second_view():
    Config.fromfile(CONFIG)  # registers the plugin
    cfg = Config.fromfile(SEAM_CONFIG)
    cfg.model.aux_losses = [dict(type='ScaleConsistencyLoss', scale=0.25)]
    init_default_scope('wsstool')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    inputs, samples, labels = _batch(model.head.num_classes)
    losses = model(inputs, samples, mode='loss')
    assert {'loss_cls', 'loss_er', 'loss_scale'} <= set(losses)
    # SEAM hands over its own view 2 (scale 0.5), not a 0.25 rescale
    view1 = model.contrast_view(inputs)
    view2 = model.contrast_view(model.second_view(inputs))
    cam2 = _minmax(view2.cam)
    cam1 = F.interpolate(_minmax(view1.cam), size=cam2.shape[-2:],
                         mode='bilinear')
    expected = ((cam1 - cam2).abs() * labels[:, :, None, None]).mean()
    torch.testing.assert_close(losses['loss_scale'], expected)
