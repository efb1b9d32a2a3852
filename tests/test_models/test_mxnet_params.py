import struct

import numpy as np
import pytest

from wsstool.models.utils.mxnet_params import load_mxnet_params
from wsstool.models.utils.resnet38d_mapping import mxnet_to_resnet38d_name

# mshadow type flags, written out independently of the reader's table.
TYPE_FLAGS = {
    'float32': 0,
    'float64': 1,
    'float16': 2,
    'uint8': 3,
    'int32': 4,
    'int8': 5,
    'int64': 6,
}
FORMS = ('v2', 'v1', 'legacy')


def pack_ndarray(array: np.ndarray, form: str, dev_type: int = 1) -> bytes:
    """One NDArray as MXNet writes it in ``form`` ('v2', 'v1', 'legacy');
    an empty shape writes an empty (ndim 0) array."""
    shape = array.shape if array.size else ()
    if form == 'v2':
        out = struct.pack('<Ii', 0xF993FAC9, 0)
        out += struct.pack(f'<I{len(shape)}q', len(shape), *shape)
    elif form == 'v1':
        out = struct.pack(f'<II{len(shape)}q', 0xF993FAC8, len(shape),
                          *shape)
    else:
        out = struct.pack(f'<I{len(shape)}I', len(shape), *shape)
    if not shape:
        return out
    out += struct.pack('<iii', dev_type, 0, TYPE_FLAGS[array.dtype.name])
    return out + array.astype(array.dtype.newbyteorder('<')).tobytes()


def pack_ndarray_list(named: dict, form: str = 'v2') -> bytes:
    """An NDArray list file holding ``named`` arrays in ``form``."""
    out = struct.pack('<QQQ', 0x112, 0, len(named))
    out += b''.join(pack_ndarray(a, form) for a in named.values())
    out += struct.pack('<Q', len(named))
    for name in named:
        raw = name.encode('utf-8')
        out += struct.pack('<Q', len(raw)) + raw
    return out


def _arrays():
    rng = np.random.default_rng(0)
    return {
        'arg:res2a_branch1_weight':
        rng.standard_normal((4, 3, 1, 1)).astype(np.float32),
        'aux:bn2a_branch2a_moving_mean':
        rng.standard_normal(5),
        'half': rng.standard_normal((2, 3)).astype(np.float16),
        'bytes': np.arange(7, dtype=np.uint8),
        'ints': np.array([[-3, 2**31 - 1]], dtype=np.int32),
        'small': np.array([-128, 5, 127], dtype=np.int8),
        'longs': np.array([2**40, -1], dtype=np.int64),
    }


@pytest.mark.parametrize('form', FORMS)
def test_load_round_trip(tmp_path, form):
    arrays = _arrays()
    path = tmp_path / 'a.params'
    path.write_bytes(pack_ndarray_list(arrays, form))

    loaded = load_mxnet_params(str(path))

    assert list(loaded) == list(arrays)
    for name, expected in arrays.items():
        assert loaded[name].dtype == expected.dtype, name
        assert loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected)
    assert loaded['ints'].flags.writeable


def test_load_empty_array_and_gpu_context(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    blob = (
        struct.pack('<QQQ', 0x112, 0, 2) +
        pack_ndarray(np.empty(0, np.float32), 'v2') +
        pack_ndarray(weight, 'v1', dev_type=2) + struct.pack('<Q', 2) +
        struct.pack('<Q', 5) + b'empty' + struct.pack('<Q', 1) + b'w')
    path = tmp_path / 'b.params'
    path.write_bytes(blob)

    loaded = load_mxnet_params(str(path))

    assert loaded['empty'].shape == (0, )
    np.testing.assert_array_equal(loaded['w'], weight)


def test_bad_magic(tmp_path):
    path = tmp_path / 'bad.params'
    path.write_bytes(struct.pack('<QQQ', 0x113, 0, 0) + struct.pack('<Q', 0))
    with pytest.raises(ValueError, match=r'bad\.params.*bad magic 0x113.*'
                       r'byte offset 0'):
        load_mxnet_params(str(path))


def test_truncated_file(tmp_path):
    blob = pack_ndarray_list({'w': np.ones((2, 2), np.float32)}, 'v1')
    path = tmp_path / 'cut.params'
    # Header (24) + magic, ndim, 2 dims (24) + context, flag (12) = 60;
    # keep 3 of the 16 data bytes.
    path.write_bytes(blob[:63])
    with pytest.raises(ValueError, match=r'cut\.params: truncated while '
                       r'reading array 0 data of shape \(2, 2\): needs 16 '
                       r'bytes, 3 left \(at byte offset 60\)'):
        load_mxnet_params(str(path))


@pytest.mark.parametrize('blob, message', [
    (struct.pack('<QQQIiI', 0x112, 0, 1, 0xF993FAC9, 1, 0),
     'sparse storage type 1'),
    (struct.pack('<QQQIIqiii', 0x112, 0, 1, 0xF993FAC8, 1, 2, 1, 0, 9),
     'unknown type flag 9'),
    (struct.pack('<QQQI', 0x112, 0, 1, 0xDEADBEEF), 'neither an NDArray'),
    (pack_ndarray_list({'w': np.ones(1, np.float32)}) + b'\0',
     '1 unexpected trailing bytes'),
    (struct.pack('<QQQQ', 0x112, 0, 0, 1) + struct.pack('<Q', 1) + b'w',
     '1 names for 0 arrays'),
])
def test_malformed_files(tmp_path, blob, message):
    path = tmp_path / 'm.params'
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=message):
        load_mxnet_params(str(path))


@pytest.mark.parametrize('mx_name, torch_name', [
    ('conv1a_weight', 'conv1a.weight'),
    ('arg:conv1a_weight', 'conv1a.weight'),
    ('arg:linear1000_weight', None),
    ('linear1000_bias', None),
    ('res2a_branch1_weight', 'b2.conv_branch1.weight'),
    ('arg:res2a_branch2a_weight', 'b2.conv_branch2a.weight'),
    ('res2b1_branch2b1_weight', 'b2_1.conv_branch2b1.weight'),
    ('res4b5_branch2a_weight', 'b4_5.conv_branch2a.weight'),
    ('res5b1_branch2b1_weight', 'b5_1.conv_branch2b1.weight'),
    ('res6a_branch2b2_weight', 'b6.conv_branch2b2.weight'),
    ('res7a_branch1_weight', 'b7.conv_branch1.weight'),
    ('bn2a_branch2a_gamma', 'b2.bn_branch2a.weight'),
    ('arg:bn5a_branch2b1_beta', 'b5.bn_branch2b1.bias'),
    ('aux:bn4b5_branch2a_moving_mean', 'b4_5.bn_branch2a.running_mean'),
    ('bn4b5_branch2a_moving_mean', 'b4_5.bn_branch2a.running_mean'),
    ('aux:bn3b2_branch2b1_moving_var', 'b3_2.bn_branch2b1.running_var'),
    ('aux:bn7a_branch2b2_moving_var', 'b7.bn_branch2b2.running_var'),
    ('bn7_gamma', 'bn7.weight'),
    ('arg:bn7_beta', 'bn7.bias'),
    ('aux:bn7_moving_mean', 'bn7.running_mean'),
    ('aux:bn7_moving_var', 'bn7.running_var'),
])
def test_resnet38d_name_mapping(mx_name, torch_name):
    assert mxnet_to_resnet38d_name(mx_name) == torch_name


def test_resnet38d_mapping_covers_the_imagenet_file():
    """All ademxapp names: 191 distinct backbone keys, 2 dropped."""
    units = {2: 'a b1 b2', 3: 'a b1 b2', 4: 'a b1 b2 b3 b4 b5', 5: 'a b1 b2',
             6: 'a', 7: 'a'}
    bn_params = ('gamma', 'beta', 'moving_mean', 'moving_var')
    names = ['conv1a_weight', 'linear1000_weight', 'linear1000_bias']
    names += [f'aux:bn7_{p}' for p in bn_params]
    expected = {'conv1a.weight'} | {
        f'bn7.{p}'
        for p in ('weight', 'bias', 'running_mean', 'running_var')
    }
    for stage, stage_units in units.items():
        for unit in stage_units.split():
            block = f'b{stage}' + (f'_{unit[1:]}' if unit != 'a' else '')
            branches = ['branch2a', 'branch2b1']
            if stage >= 6:
                branches.append('branch2b2')
            bn_branches = list(branches)
            if unit == 'a':
                branches.append('branch1')
            for branch in branches:
                names.append(f'arg:res{stage}{unit}_{branch}_weight')
                expected.add(f'{block}.conv_{branch}.weight')
            for branch in bn_branches:
                names += [f'bn{stage}{unit}_{branch}_{p}' for p in bn_params]
                expected |= {
                    f'{block}.bn_{branch}.{p}'
                    for p in ('weight', 'bias', 'running_mean', 'running_var')
                }

    mapped = [mxnet_to_resnet38d_name(name) for name in names]

    assert mapped.count(None) == 2
    kept = [key for key in mapped if key is not None]
    assert len(kept) == len(set(kept)) == 191
    assert set(kept) == expected


@pytest.mark.parametrize('mx_name, message', [
    ('fc8_weight', 'not an ImageNet ResNet-38 parameter'),
    ('res2b_branch2a_weight', 'has no unit number'),
    ('resx_branch1_weight', 'not a ResNet-38 block name'),
    ('res2a_branch1_bias', 'have no bias'),
    ('bn2a_branch1_moving_std', "ends in 'std'"),
])
def test_resnet38d_name_mapping_rejects(mx_name, message):
    with pytest.raises(ValueError, match=message):
        mxnet_to_resnet38d_name(mx_name)
