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

from wsstool.apis.pipeline import ConfigStage, build_stages
from wsstool.registry import METRICS, MODELS, REFINERS

CONFIG_NAME = re.compile(r'_\d+xb\d+-')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# pipeline configs and benchmark sets name model configs; they are not ones
NOT_MODEL_CONFIGS = ('pipelines', 'benchmarks')
PIPELINES = sorted(
    glob.glob(osp.join(REPO, 'configs', 'pipelines', '*.py')))
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
    model_configs = [
        p for p in in_configs if '_base_' not in p and osp.relpath(
            p, osp.join(REPO, 'configs')).split(osp.sep)[0] not in
        NOT_MODEL_CONFIGS
    ]
    assert sorted(model_configs) == sorted(
        p for p in CONFIGS if p.startswith(osp.join(REPO, 'configs')))


@pytest.mark.parametrize('path', PIPELINES,
                         ids=[osp.relpath(p, REPO) for p in PIPELINES])
def test_pipeline_config_builds(path):
    """Stages build, read only earlier stages, and name existing configs."""
    stages = build_stages(Config.fromfile(path))
    for stage in stages:
        if isinstance(stage, ConfigStage) and '{' not in stage.config:
            assert osp.isfile(osp.join(REPO, stage.config)), stage.config


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
