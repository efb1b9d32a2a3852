import numpy as np
import pytest
import torch

from tests.test_models.test_mxnet_params import pack_ndarray_list
from tests.tool_loader import load_tool

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
