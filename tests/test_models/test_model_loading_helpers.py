"""Helpers shared by the models: data preprocessor building, option
defaults, checkpoint key mapping on loading and reading pretrained state
dicts."""
import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

from wsstool.models.data_preprocessors.wsss_data_preprocessor import (
    WSSSDataPreprocessor, build_data_preprocessor)
from wsstool.models.utils.cfg_defaults import merge_cfg_defaults
from wsstool.models.utils.state_dict import read_pretrained_state_dict
from wsstool.models.utils.unprefixed_keys import (register_key_mapping_hook,
                                                  strip_data_parallel_prefix)


def test_build_data_preprocessor_from_none_dict_or_module():
    assert type(build_data_preprocessor(None)) is WSSSDataPreprocessor
    built = build_data_preprocessor(
        dict(type='WSSSDataPreprocessor', mean=(1., 2., 3.)))
    assert built.mean.flatten().tolist() == [1., 2., 3.]
    module = nn.Identity()
    assert build_data_preprocessor(module) is module


def test_merge_cfg_defaults():
    defaults = dict(radius=5, flip=True)
    assert merge_cfg_defaults(None, defaults, 'Net test_cfg') == defaults
    assert merge_cfg_defaults(dict(flip=False), defaults, 'Net test_cfg') == \
        dict(radius=5, flip=False)
    assert defaults == dict(radius=5, flip=True)
    with pytest.raises(ValueError,
                       match=r"Net test_cfg has unknown keys \['beta'\]; "
                       r"expected keys of \['flip', 'radius'\]"):
        merge_cfg_defaults(dict(beta=1, flip=False), defaults, 'Net test_cfg')


def test_strip_data_parallel_prefix_only_when_every_key_has_it():
    one, two = torch.zeros(1), torch.ones(1)
    stripped = strip_data_parallel_prefix({'module.b': one, 'module.a': two})
    assert isinstance(stripped, OrderedDict)
    assert list(stripped) == ['b', 'a']
    assert stripped['b'] is one and stripped['a'] is two
    mixed = {'module.b': one, 'a': two}
    assert list(strip_data_parallel_prefix(mixed)) == ['module.b', 'a']
    assert strip_data_parallel_prefix({}) == OrderedDict()


class _Net(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.head = nn.Linear(2, 1)


def test_key_mapping_hook_defaults_to_unprefixed_keys():
    net = _Net()
    register_key_mapping_hook(net)
    # 'weight' and 'bias' exist under both prefixes: the first one wins
    net.load_state_dict({
        'module.weight': torch.full((2, 2), 1.),
        'module.bias': torch.full((2, ), 2.),
    }, strict=False)
    assert torch.equal(net.backbone.weight, torch.full((2, 2), 1.))
    assert torch.equal(net.backbone.bias, torch.full((2, ), 2.))


def test_key_mapping_hook_applies_the_given_mapping_at_top_level_only():
    calls = []

    def add_head_prefix(state_dict):
        calls.append(sorted(state_dict))
        return {'head.' + key: value for key, value in state_dict.items()}

    net = _Net()
    register_key_mapping_hook(net.head, add_head_prefix)
    register_key_mapping_hook(net, add_head_prefix)
    net.load_state_dict({
        'weight': torch.full((1, 2), 3.),
        'bias': torch.full((1, ), 4.)
    }, strict=False)
    # the hook of the submodule sees a non-empty prefix and maps nothing
    assert calls == [['bias', 'weight']]
    assert torch.equal(net.head.weight, torch.full((1, 2), 3.))
    assert torch.equal(net.head.bias, torch.full((1, ), 4.))
    # loaded on its own, the head maps its own state dict
    net.head.load_state_dict({'head.weight': torch.zeros(1, 2),
                              'head.bias': torch.zeros(1)}, strict=False)
    assert torch.equal(net.head.weight, torch.full((1, 2), 3.))
    assert calls[-1] == ['head.bias', 'head.weight']


def test_key_mapping_hook_follows_a_deep_copy():
    net = _Net()
    register_key_mapping_hook(net)
    copied = copy.deepcopy(net)
    # 'weight' becomes the copy's first prefixed model key
    copied.load_state_dict({'weight': torch.full((2, 2), 5.)}, strict=False)
    assert torch.equal(copied.backbone.weight, torch.full((2, 2), 5.))
    assert not torch.equal(net.backbone.weight, torch.full((2, 2), 5.))


def test_read_pretrained_state_dict(tmp_path):
    tensors = {'backbone.w': torch.arange(3.), 'head.w': torch.ones(2)}
    plain, nested = tmp_path / 'plain.pth', tmp_path / 'nested.pth'
    torch.save(tensors, plain)
    torch.save(dict(state_dict=tensors, meta=dict(epoch=1)), nested)
    for path in (plain, nested):
        read = read_pretrained_state_dict(str(path), 'Net')
        assert sorted(read) == ['backbone.w', 'head.w']
        only = read_pretrained_state_dict(str(path), 'Net', 'backbone.')
        assert list(only) == ['w']
        assert torch.equal(only['w'], torch.arange(3.))
    with pytest.raises(KeyError, match=r"plain\.pth.*prefix 'neck\.'"):
        read_pretrained_state_dict(str(plain), 'Net', 'neck.')
    with pytest.raises(FileNotFoundError, match=r'Net .*absent\.pth'):
        read_pretrained_state_dict(str(tmp_path / 'absent.pth'), 'Net')
