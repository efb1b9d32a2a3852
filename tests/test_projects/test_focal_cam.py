"""The example plugin of docs/add_plugin.md loads through custom_imports."""
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'projects', 'focal_cam',
                  'cam_r18-focal_1xb16-12e_synthvoc-128x128.py')


def _focal_reference(logits, labels, gamma):
    """Per-element focal BCE written out from probabilities."""
    prob = torch.sigmoid(logits)
    p_true = torch.where(labels > 0, prob, 1 - prob)
    return (-(1 - p_true)**gamma * torch.log(p_true)).mean()


def test_config_swaps_in_the_plugin_loss():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports
    init_default_scope('wsstool')
    model = MODELS.build(cfg.model)
    loss = model.head.loss_cls
    assert type(loss).__name__ == 'MultiLabelFocalLoss'
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(
        loss(logits, labels), _focal_reference(logits, labels, 2.0))
    loss.gamma = 0.0
    torch.testing.assert_close(
        loss(logits, labels),
        F.binary_cross_entropy_with_logits(logits, labels))
