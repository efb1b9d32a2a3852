"""Every config in configs/ and projects/ loads and its parts build."""
import glob
import os.path as osp
import re

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from wsstool.registry import METRICS, MODELS, REFINERS

CONFIG_NAME = re.compile(r'_\d+xb\d+-')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    path for folder in ('configs', 'projects')
    for path in glob.glob(osp.join(REPO, folder, '**', '*.py'),
                          recursive=True)
    # configs follow <method>_<backbone>_<N>xb<B>-<schedule>_<data>-<crop>
    if '_base_' not in path and CONFIG_NAME.search(osp.basename(path)))


def test_configs_exist_and_follow_the_naming_convention():
    assert CONFIGS
    in_configs = glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                           recursive=True)
    assert sorted(p for p in in_configs if '_base_' not in p) == sorted(
        p for p in CONFIGS if p.startswith(osp.join(REPO, 'configs')))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert isinstance(model, nn.Module)
    build_optim_wrapper(model, cfg.optim_wrapper)
    # refinement configs have no validation
    loaders = [
        name for name in ('train_dataloader', 'val_dataloader',
                          'test_dataloader') if cfg.get(name) is not None
    ]
    assert 'train_dataloader' in loaders and 'test_dataloader' in loaders
    for loader in loaders:
        dataset = cfg[loader].dataset
        while 'pipeline' not in dataset:  # dataset wrappers
            dataset = dataset.dataset
        Compose(dataset.pipeline)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if cfg.get(evaluator) is not None:
            METRICS.build(cfg[evaluator])
    # refinement configs: the refiners of tools/make_pseudo_labels.py
    for step in ('relation_label', 'conf_mask'):
        if 'refine' in cfg:
            REFINERS.build(cfg.refine[step])
