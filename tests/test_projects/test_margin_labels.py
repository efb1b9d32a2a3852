"""The example refiner plugin of docs/add_plugin.md loads through
custom_imports and labels by margin."""
import os.path as osp

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.registry import REFINERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'projects', 'margin_labels',
                  'irn-margin_r18_1xb16-10e_synthvoc-128x128.py')


def test_config_builds_the_plugin_refiner():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports
    init_default_scope('wsstool')
    refiner = REFINERS.build(cfg.refine.relation_label)
    assert type(refiner).__name__ == 'MarginRelationLabel'
    assert cfg.train_dataloader.dataset.data_prefix.seg_map_path == (
        cfg.refine.out_dir + '/relation_labels')


def test_margin_rule_on_hand_made_cams():
    Config.fromfile(CONFIG)
    refiner = REFINERS.build(
        dict(type='MarginRelationLabel', fg_thresh=0.4, bg_thresh=0.1,
             margin=0.2))
    cams = np.array([[[0.9, 0.5, 0.05, 0.3]], [[0.1, 0.45, 0.0, 0.2]]])
    label = refiner(np.zeros((1, 4, 3), np.uint8), np.array([2, 6]), cams)
    # pixel 0: class 2 wins clearly; 1: too close; 2: background; 3: unsure
    assert label.tolist() == [[3, 255, 0, 255]]
    single = refiner(np.zeros((1, 2, 3), np.uint8), np.array([4]),
                     np.array([[[0.5, 0.05]]]))
    assert single.tolist() == [[5, 0]]
    assert refiner(np.zeros((1, 2, 3), np.uint8), np.zeros(0, np.int64),
                   np.zeros((0, 1, 2))).tolist() == [[0, 0]]
