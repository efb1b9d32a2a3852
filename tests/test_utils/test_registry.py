import os.path as osp
import textwrap

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.registry import ERASERS, MODELS, REFINERS, Registry


def test_unknown_type_names_registry_and_lists_members():
    init_default_scope('wsstool')
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='NoSuchModel'))
    message = str(info.value)
    assert "'NoSuchModel' is not in the wsstool::model registry" in message
    # what is registered is listed, including the baseline classifier
    assert 'CAMClassifier' in message
    assert 'custom_imports' in message


def test_membership_test_does_not_raise():
    assert 'CAMClassifier' in MODELS
    assert 'NoSuchModel' not in MODELS


def test_wsss_registries_have_wsstool_scope():
    assert ERASERS.scope == 'wsstool' and REFINERS.scope == 'wsstool'
    assert isinstance(ERASERS, Registry)


def test_custom_imports_registers_out_of_tree_plugin(tmp_path, monkeypatch):
    plugin = tmp_path / 'my_plugin.py'
    plugin.write_text(textwrap.dedent('''
        import torch.nn as nn
        from wsstool.registry import MODELS

        @MODELS.register_module()
        class MyPluginModel(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, 1)
    '''))
    config = tmp_path / 'plugin_config.py'
    config.write_text(textwrap.dedent('''
        custom_imports = dict(imports=['my_plugin'],
                              allow_failed_imports=False)
        model = dict(type='MyPluginModel', width=3)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = Config.fromfile(osp.join(tmp_path, 'plugin_config.py'))
    init_default_scope('wsstool')
    model = MODELS.build(cfg.model)
    assert isinstance(model, nn.Module) and model.fc.in_features == 3
    MODELS._module_dict.pop('MyPluginModel')
