import numpy as np
import pytest
import torch

from tests.test_models.test_mxnet_params import pack_ndarray_list
from tests.test_models.test_reference_checkpoints import net_gpp_shapes
from tests.tool_loader import load_tool
from wsstool.registry import MODELS

@pytest.fixture(scope='module')
def convert_tool():
    return load_tool('convert_weights')


def test_mxnet_resnet38d_end_to_end(convert_tool, tmp_path, capsys):
    rng = np.random.default_rng(0)
    arrays = {
        'arg:conv1a_weight': rng.standard_normal((4, 3, 3, 3)),
        'arg:res2a_branch1_weight': rng.standard_normal((6, 4, 1, 1)),
        'arg:bn4b5_branch2a_gamma': rng.standard_normal(5),
        'aux:bn4b5_branch2a_moving_var': rng.random(5),
        'aux:bn7_moving_mean': rng.standard_normal(8),
        'arg:linear1000_weight': rng.standard_normal((3, 8)),
        'arg:linear1000_bias': rng.standard_normal(3),
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    src = tmp_path / 'ilsvrc.params'
    src.write_bytes(pack_ndarray_list(arrays, 'v1'))
    dst = tmp_path / 'out' / 'resnet38d.pth'

    convert_tool.main(['mxnet-resnet38d', str(src), str(dst)])

    state_dict = torch.load(str(dst), weights_only=True)
    expected = {
        'conv1a.weight': 'arg:conv1a_weight',
        'b2.conv_branch1.weight': 'arg:res2a_branch1_weight',
        'b4_5.bn_branch2a.weight': 'arg:bn4b5_branch2a_gamma',
        'b4_5.bn_branch2a.running_var': 'aux:bn4b5_branch2a_moving_var',
        'bn7.running_mean': 'aux:bn7_moving_mean',
    }
    assert list(state_dict) == list(expected)
    for key, mx_name in expected.items():
        assert state_dict[key].dtype == torch.float32
        np.testing.assert_array_equal(state_dict[key].numpy(),
                                      arrays[mx_name])
    assert capsys.readouterr().out.strip() == (
        f'Converted 5 tensors from {src} to {dst}; dropped 2: '
        'arg:linear1000_weight, arg:linear1000_bias')


@pytest.mark.parametrize('names, message', [
    (['arg:bn7_gamma', 'bn7_gamma'], "both map to 'bn7.weight'"),
    (['arg:fc8_weight'], r"m\.params: MXNet parameter 'arg:fc8_weight' is "
     'not an ImageNet ResNet-38 parameter'),
])
def test_mxnet_resnet38d_rejects_bad_names(convert_tool, tmp_path, names,
                                           message):
    src = tmp_path / 'm.params'
    src.write_bytes(
        pack_ndarray_list({name: np.ones(2, np.float32)
                           for name in names}))
    dst = tmp_path / 'out.pth'
    with pytest.raises(ValueError, match=message):
        convert_tool.main(['mxnet-resnet38d', str(src), str(dst)])
    assert not dst.exists()


def test_unknown_converter(convert_tool, tmp_path):
    with pytest.raises(SystemExit):
        convert_tool.main(['caffe-vgg16', 'a', str(tmp_path / 'b.pth')])


def _net_gpp_file(path, fc9_channels=21, edit=None, prefix=''):
    """Save a Net_gpp-layout state dict whose i-th tensor is filled with i;
    broadcast tensors keep the file tiny. ``edit(dict)`` alters it first."""
    state_dict = {
        prefix + key: torch.tensor(0) if not shape else torch.tensor(
            float(index)).expand(shape)
        for index, (key, shape) in enumerate(
            net_gpp_shapes(fc9_channels).items())
    }
    if edit is not None:
        edit(state_dict)
    torch.save(state_dict, str(path))
    return state_dict


def _wsstool_key(key):
    if key.startswith('gconv'):
        return 'head.pooling.' + key
    if key.startswith(('fc8', 'bn8', 'fc9')):
        return 'head.' + key
    return 'backbone.' + key


@pytest.mark.parametrize('fc9_channels, variant, prefix', [
    (21, 'KTSE/KTSE+', ''),
    (20, 'AEFT', ''),
    (21, 'KTSE/KTSE+', 'module.'),
])
def test_reference_stage1_end_to_end(convert_tool, tmp_path, capsys,
                                     fc9_channels, variant, prefix):
    src, dst = tmp_path / 'net.pth', tmp_path / 'out' / 'gpp.pth'
    reference = _net_gpp_file(src, fc9_channels, prefix=prefix)

    convert_tool.main(['reference-stage1', str(src), str(dst)])

    checkpoint = torch.load(str(dst), weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    state_dict = checkpoint['state_dict']
    assert len(state_dict) == 241
    for key, value in reference.items():
        converted = state_dict[_wsstool_key(key[len(prefix):])]
        # every tensor holds one distinct value: compare shape and a corner
        assert converted.shape == value.shape
        assert converted[(0, ) * value.dim()] == value[(0, ) * value.dim()]
    with_background = fc9_channels == 21
    assert checkpoint['meta'] == dict(
        converter='reference-stage1',
        source='net.pth',
        variant=variant,
        model=dict(
            type='CAMClassifier',
            backbone=dict(type='ResNet38d', dropouts=(0.2, 0.2)),
            head=dict(type='GPPCAMHead', with_background=with_background)))
    with torch.device('meta'):
        model = MODELS.build(checkpoint['meta']['model'])
    model.load_state_dict(state_dict, strict=True, assign=True)
    assert capsys.readouterr().out.strip() == (
        f'Converted 241 tensors from {src} to {dst}; dropped 0')


def _drop(key):
    return lambda sd: sd.pop(key)


def _set(key, value):
    return lambda sd: sd.__setitem__(key, value)


@pytest.mark.parametrize('edit, error, message', [
    (_drop('b4_3.conv_branch2a.weight'), KeyError,
     r"missing key 'b4_3.conv_branch2a.weight' \(1 missing\); expected the "
     '241 keys'),
    (_drop('gconv2.att_n.0.weight'), KeyError,
     "missing key 'gconv2.att_n.0.weight'"),
    (_set('fc10.weight', torch.zeros(1)), KeyError,
     r"unexpected key 'fc10.weight' \(1 unexpected\)"),
    (_set('gconv1.att_p.0.weight', torch.zeros(2, 42, 3, 3)), ValueError,
     r"'gconv1.att_p.0.weight' has shape \(2, 42, 3, 3\); expected "
     r'\(2, 40, 3, 3\)'),
    (_set('fc9.weight', torch.zeros(19, 256, 1, 1)), ValueError,
     r'fc9.weight has shape \(19, 256, 1, 1\); expected 21 \(KTSE/KTSE\+\) '
     r'or 20 \(AEFT\)'),
    (_drop('fc9.weight'), KeyError, 'no fc9.weight'),
], ids=['missing-conv', 'missing-gate', 'unexpected', 'shape', 'fc9-channels',
        'no-fc9'])
def test_reference_stage1_rejects_bad_state_dicts(convert_tool, tmp_path,
                                                  edit, error, message):
    src, dst = tmp_path / 'net.pth', tmp_path / 'out.pth'
    _net_gpp_file(src, edit=edit)
    with pytest.raises(error, match=message):
        convert_tool.main(['reference-stage1', str(src), str(dst)])
    assert not dst.exists()


def test_reference_stage1_rejects_nested_checkpoint(convert_tool, tmp_path):
    src, dst = tmp_path / 'net.pth', tmp_path / 'out.pth'
    torch.save({'state_dict': {'fc9.weight': torch.zeros(21, 256, 1, 1)}},
               str(src))
    with pytest.raises(ValueError, match='expected a plain state dict'):
        convert_tool.main(['reference-stage1', str(src), str(dst)])
    assert not dst.exists()
