import os

import numpy as np
import pytest
import torch

from wsstool.fileio import find_cam_file, load_cam, save_cam


@pytest.fixture
def cams():
    rng = np.random.default_rng(0)
    return np.array([7, 3]), rng.random((2, 9, 13)).astype(np.float32)


def test_npz_round_trip(tmp_path, cams):
    keys, cam = cams
    path = str(tmp_path / 'a.npz')
    save_cam(path, torch.from_numpy(keys), torch.from_numpy(cam))
    with np.load(path) as raw:
        assert sorted(raw.files) == ['cam', 'keys']
        assert raw['keys'].dtype == np.int64
        assert raw['cam'].dtype == np.float16
    loaded_keys, loaded_cam = load_cam(path)
    np.testing.assert_array_equal(loaded_keys, keys)
    assert loaded_keys.dtype == np.int64 and loaded_cam.dtype == np.float32
    np.testing.assert_allclose(loaded_cam, cam, atol=1e-3)
    assert os.listdir(tmp_path) == ['a.npz']


def test_npz_float32(tmp_path):
    cam = np.array([[[1e6, 1 / 3]]], np.float32)  # beyond float16
    path = str(tmp_path / 'a.npz')
    save_cam(path, [5], cam, dtype='float32')
    with np.load(path) as raw:
        assert raw['cam'].dtype == np.float32
    np.testing.assert_array_equal(load_cam(path)[1], cam)
    with pytest.raises(ValueError, match="dtype must be one of.*'int8'"):
        save_cam(path, [5], cam, dtype='int8')


def test_psa_dict_layout_and_round_trip(tmp_path, cams):
    keys, cam = cams
    path = str(tmp_path / 'a.npy')
    save_cam(path, keys, cam, fmt='psa')
    raw = np.load(path, allow_pickle=True).item()
    assert list(raw) == [7, 3]
    assert raw[7].dtype == np.float32 and raw[7].shape == (9, 13)
    np.testing.assert_array_equal(raw[3], cam[1])
    loaded_keys, loaded_cam = load_cam(path)
    # PSA dicts come back in ascending class order
    np.testing.assert_array_equal(loaded_keys, [3, 7])
    np.testing.assert_array_equal(loaded_cam, cam[::-1])


def test_irn_dict_layout_and_round_trip(tmp_path):
    cam = np.stack([np.full((9, 13), 0.25), np.full((9, 13), 1.)])
    path = str(tmp_path / 'a.npy')
    save_cam(path, [4, 11], cam, fmt='irn')
    raw = np.load(path, allow_pickle=True).item()
    assert raw['keys'].dtype == torch.int64
    assert raw['keys'].tolist() == [4, 11]
    assert raw['cam'].dtype == torch.float32
    assert raw['cam'].shape == (2, 3, 4)  # ceil(9 / 4), ceil(13 / 4)
    torch.testing.assert_close(raw['cam'][0], torch.full((3, 4), 0.25))
    assert raw['high_res'].dtype == np.float32
    np.testing.assert_array_equal(raw['high_res'], cam)
    loaded_keys, loaded_cam = load_cam(path)
    np.testing.assert_array_equal(loaded_keys, [4, 11])
    np.testing.assert_array_equal(loaded_cam, cam)


def test_reads_reference_dicts(tmp_path):
    """Files written the way PSA and IRN write them."""
    psa = {0: np.full((2, 3), 0.5, np.float32), 14: np.ones((2, 3))}
    np.save(tmp_path / 'psa.npy', psa)
    keys, cam = load_cam(str(tmp_path / 'psa.npy'))
    np.testing.assert_array_equal(keys, [0, 14])
    np.testing.assert_array_equal(cam[:, 0, 0], [0.5, 1.])

    high_res = np.random.default_rng(1).random((1, 5, 6)).astype(np.float32)
    np.save(tmp_path / 'irn.npy', {
        'keys': torch.tensor([2]),
        'cam': torch.rand(1, 2, 2),
        'high_res': high_res
    })
    keys, cam = load_cam(str(tmp_path / 'irn.npy'))
    np.testing.assert_array_equal(keys, [2])
    np.testing.assert_array_equal(cam, high_res)


def test_explicit_format_rejects_the_others(tmp_path, cams):
    keys, cam = cams
    paths = dict(npz=str(tmp_path / 'a.npz'), psa=str(tmp_path / 'p.npy'),
                 irn=str(tmp_path / 'i.npy'))
    for fmt, path in paths.items():
        save_cam(path, keys, cam, fmt=fmt)
        loaded_keys, _ = load_cam(path, fmt=fmt)
        assert sorted(loaded_keys) == [3, 7]
    with pytest.raises(ValueError, match="i.npy is an IRN-style dict with "
                       "\"keys\" and \"high_res\", not the 'psa' format"):
        load_cam(paths['irn'], fmt='psa')
    with pytest.raises(ValueError, match="a.npz is a toolbox .npz, not the "
                       "'irn' format"):
        load_cam(paths['npz'], fmt='irn')
    with pytest.raises(ValueError, match='fmt must be "auto" or one of'):
        load_cam(paths['npz'], fmt='pt')


def test_crf_score_dict_is_refused_where_no_psa_file_is_expected(tmp_path):
    """A PSA CRF dict (key 0 = background, k + 1 = class k) reads as CAMs
    of classes 0 and 15 under 'auto'; 'npz' and 'irn' refuse it."""
    np.save(tmp_path / 'la.npy', {0: np.ones((2, 2)), 15: np.zeros((2, 2))})
    path = str(tmp_path / 'la.npy')
    np.testing.assert_array_equal(load_cam(path)[0], [0, 15])
    for fmt in ('npz', 'irn'):
        with pytest.raises(ValueError, match='la.npy is a PSA-style dict'):
            load_cam(path, fmt=fmt)


@pytest.mark.parametrize('fmt,name', [('npz', 'a.npz'), ('psa', 'a.npy'),
                                      ('irn', 'a.npy')])
def test_image_without_classes(tmp_path, fmt, name):
    path = str(tmp_path / name)
    save_cam(path, np.zeros(0), np.zeros((0, 5, 6)), fmt=fmt)
    keys, cam = load_cam(path)
    assert keys.shape == (0, ) and cam.shape[0] == 0
    if fmt == 'irn':
        assert np.load(path, allow_pickle=True).item()['cam'].shape == (0, 2,
                                                                        2)


def test_unrecognised_files(tmp_path):
    path = tmp_path / 'x.npy'
    path.write_bytes(b'not a cam file')
    with pytest.raises(ValueError, match='x.npy is not a CAM file: expected'):
        load_cam(str(path))
    np.save(path, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match='x.npy holds an array of shape '
                       '\\(2, 3, 3\\).*not a dict'):
        load_cam(str(path))
    np.save(path, {'cam': np.zeros((1, 2, 2))})
    with pytest.raises(ValueError, match="dict with keys \\['cam'\\]"):
        load_cam(str(path))
    np.save(path, {'keys': torch.tensor([0]), 'cam': torch.zeros(1, 2, 2)})
    with pytest.raises(ValueError, match='IRN-style dict without "high_res"'):
        load_cam(str(path))
    np.savez(tmp_path / 'y.npz', keys=np.zeros(1))
    with pytest.raises(ValueError, match="y.npz lacks \\['cam'\\]"):
        load_cam(str(tmp_path / 'y.npz'))


def test_bad_arguments_write_nothing(tmp_path):
    path = str(tmp_path / 'a.npz')
    with pytest.raises(ValueError, match='expected keys \\(K,\\) and cam'):
        save_cam(path, [1, 2], np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match='fmt must be one of'):
        save_cam(path, [1], np.zeros((1, 4, 4)), fmt='pt')
    with pytest.raises(ValueError, match='float16 range'):
        save_cam(path, [1], np.full((1, 4, 4), 1e6))
    assert os.listdir(tmp_path) == []


def test_find_cam_file_prefers_npz_then_npy(tmp_path):
    folder = str(tmp_path)
    (tmp_path / 'a.npy').write_bytes(b'')
    assert find_cam_file(folder, 'a') == str(tmp_path / 'a.npy')
    (tmp_path / 'a.npz').write_bytes(b'')
    assert find_cam_file(folder, 'a') == str(tmp_path / 'a.npz')
    assert find_cam_file(folder, 'b', required=False) is None
    with pytest.raises(FileNotFoundError,
                       match=r'CAM file of image b not found: looked for '
                       r'.*b\.npz or .*b\.npy'):
        find_cam_file(folder, 'b')
