"""The example eraser plugin of docs/add_plugin.md loads through
custom_imports and erases the strongest grid patches."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.models.erasers import ErasingInputs
from wsstool.registry import ERASERS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'projects', 'patch_eraser',
                  'ktse-patch_r18_1xb16-12e_synthvoc-128x128.py')


def test_config_swaps_in_the_plugin_eraser():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports
    init_default_scope('wsstool')
    model = MODELS.build(cfg.model)
    assert type(model.eraser).__name__ == 'TopPatchEraser'
    assert (model.eraser.grid, model.eraser.num_patches) == (4, 2)


def test_top_patches_are_erased():
    Config.fromfile(CONFIG)
    eraser = ERASERS.build(dict(type='TopPatchEraser', grid=2,
                                num_patches=1))
    fg_cam = torch.zeros(2, 1, 4, 4)
    fg_cam[0, 0, 0, 3] = 1.0  # image 0: top-right patch strongest
    fg_cam[1, 0, 2:, :2] = 0.5  # image 1: bottom-left patch strongest
    images = torch.ones(2, 3, 4, 4)
    erased = eraser(ErasingInputs(images=images, fg_cam=fg_cam,
                                  labels=torch.ones(2, 1)))
    expected = torch.ones(2, 1, 4, 4)
    expected[0, :, :2, 2:] = 0
    expected[1, :, 2:, :2] = 0
    torch.testing.assert_close(erased, expected.expand(2, 3, 4, 4))
