import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.structures import PixelData

from wsstool.datasets.transforms import (PackWSSSInputs, RandomCropWithPad,
                                         RandomFlip, RandomRescale)
from wsstool.datasets.transforms import superpixels as superpixels_module
from wsstool.datasets.transforms.superpixels import ComputeSuperpixels
from wsstool.registry import TRANSFORMS


def _image(h=40, w=50, seed=0):
    """BGR image of smooth regions plus noise: blue/green encode the pixel
    position, so the source pixel of any nearest-resized pixel is known."""
    rng = np.random.RandomState(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.arange(h)[:, None]
    img[..., 1] = np.arange(w)[None]
    img[..., 2] = np.where(np.arange(w)[None] < w // 2, 40, 200) + \
        rng.randint(0, 10, (h, w))
    return img


def _results(img, img_id='2007_000032'):
    return dict(img=img, img_id=img_id, img_path=f'{img_id}.jpg',
                img_shape=img.shape[:2], ori_shape=img.shape[:2])


def test_ids_dtype_shape_range_and_seg_field():
    img = _image()
    for method, params in (('slic', dict(n_segments=20)),
                           ('felzenszwalb', dict(scale=50, min_size=10))):
        out = ComputeSuperpixels(method, params)(_results(img))
        ids = out['superpixel']
        assert ids.dtype == np.int32 and ids.shape == img.shape[:2]
        # consecutive ids 0..S-1
        np.testing.assert_array_equal(np.unique(ids), np.arange(ids.max() + 1))
        assert 2 <= ids.max() + 1 <= 200
        assert out['seg_fields'] == ['superpixel']
    few = ComputeSuperpixels('slic', dict(n_segments=4))(_results(img))
    many = ComputeSuperpixels('slic', dict(n_segments=60))(_results(img))
    assert few['superpixel'].max() < many['superpixel'].max()


def test_slic_segments_the_rgb_image():
    # red and blue halves: SLIC on the RGB image never mixes them
    img = np.zeros((24, 32, 3), np.uint8)
    img[:, :16] = (0, 0, 255)  # BGR red
    img[:, 16:] = (255, 0, 0)  # BGR blue
    ids = ComputeSuperpixels(params=dict(n_segments=6))(
        _results(img))['superpixel']
    assert not set(np.unique(ids[:, :16])) & set(np.unique(ids[:, 16:]))


def test_deterministic():
    transform = ComputeSuperpixels(params=dict(n_segments=30))
    first = transform(_results(_image()))['superpixel']
    second = transform(_results(_image()))['superpixel']
    np.testing.assert_array_equal(first, second)


def test_cache_written_once_and_reused(tmp_path, monkeypatch):
    calls = []
    compute = superpixels_module.compute_superpixels

    def counting(*args):
        calls.append(args[1])
        return compute(*args)

    monkeypatch.setattr(superpixels_module, 'compute_superpixels', counting)
    transform = ComputeSuperpixels(
        params=dict(n_segments=30), cache_dir=str(tmp_path))
    first = transform(_results(_image()))['superpixel']
    path = osp.join(transform.cache_folder, '2007_000032.png')
    assert osp.dirname(path).startswith(str(tmp_path))
    assert 'n_segments=30' in osp.basename(osp.dirname(path))
    stored = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, first)
    mtime = os.stat(path).st_mtime_ns
    assert os.listdir(osp.dirname(path)) == ['2007_000032.png']  # no temp

    # a new instance (another worker) reads the file
    again = ComputeSuperpixels(
        params=dict(n_segments=30.0), cache_dir=str(tmp_path))
    second = again(_results(_image()))['superpixel']
    assert calls == ['slic']
    assert second.dtype == np.int32
    np.testing.assert_array_equal(second, first)
    assert os.stat(path).st_mtime_ns == mtime

    # another image id is computed and stored next to it
    transform(_results(_image(seed=1), img_id='2007_000033'))
    assert calls == ['slic', 'slic']


def test_parameter_change_uses_another_cache_folder(tmp_path):
    folders = {
        ComputeSuperpixels(params=params, cache_dir=str(tmp_path)).cache_folder
        for params in (dict(n_segments=30), dict(n_segments=30.0),
                       dict(n_segments=30, compactness=10))
    }
    assert len(folders) == 1
    other = [
        ComputeSuperpixels(params=dict(n_segments=31),
                           cache_dir=str(tmp_path)).cache_folder,
        ComputeSuperpixels(params=dict(n_segments=30, compactness=5),
                           cache_dir=str(tmp_path)).cache_folder,
        ComputeSuperpixels('felzenszwalb',
                           cache_dir=str(tmp_path)).cache_folder
    ]
    assert len(folders | set(other)) == 4
    transform = ComputeSuperpixels(
        params=dict(n_segments=31), cache_dir=str(tmp_path))
    transform(_results(_image()))
    assert os.listdir(tmp_path) == [osp.basename(other[0])]
    assert ComputeSuperpixels().cache_folder is None


def test_bad_cache_files_are_named(tmp_path):
    transform = ComputeSuperpixels(
        params=dict(n_segments=30), cache_dir=str(tmp_path))
    os.makedirs(transform.cache_folder)
    corrupt = osp.join(transform.cache_folder, 'a.png')
    with open(corrupt, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(OSError, match='a.png.*corrupt'):
        transform(_results(_image(), img_id='a'))
    cv2.imwrite(
        osp.join(transform.cache_folder, 'b.png'),
        np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match=r'b.png has size \(10, 10\)'):
        transform(_results(_image(), img_id='b'))


def test_argument_and_pipeline_errors():
    with pytest.raises(ValueError, match='method must be one of'):
        ComputeSuperpixels('watershed')
    with pytest.raises(ValueError, match="'n_segment' is not a parameter"):
        ComputeSuperpixels(params=dict(n_segment=10))
    with pytest.raises(ValueError, match='must be a number'):
        ComputeSuperpixels(params=dict(n_segments=[10]))
    with pytest.raises(KeyError, match='img_id'):
        ComputeSuperpixels(cache_dir='unused')(dict(img=_image()))
    resized = _results(_image())
    resized['img'] = cv2.resize(resized['img'], (25, 20))
    with pytest.raises(ValueError, match='right after LoadImageFromFile'):
        ComputeSuperpixels()(resized)


def test_geometric_transforms_move_the_ids_with_the_image():
    img = _image()
    ids = ComputeSuperpixels(params=dict(n_segments=40))(
        _results(img))['superpixel']
    pipeline = Compose([
        ComputeSuperpixels(params=dict(n_segments=40)),
        RandomRescale(ratio_range=(0.6, 1.6), interpolation='nearest'),
        RandomFlip(prob=0.5),
        RandomCropWithPad(crop_size=(48, 48)),
    ])
    saw = dict(flip=set(), padding=False)
    for seed in range(8):
        np.random.seed(seed)
        out = pipeline(_results(img))
        moved, valid = out['superpixel'], out['valid_mask']
        assert moved.dtype == np.int32 and moved.shape == (48, 48)
        rows = out['img'][..., 0][valid].astype(int)
        cols = out['img'][..., 1][valid].astype(int)
        np.testing.assert_array_equal(moved[valid], ids[rows, cols])
        assert (moved[~valid] == 255).all()  # padding, masked later
        saw['flip'].add(out['flip'])
        saw['padding'] |= not valid.all()
    assert saw == dict(flip={True, False}, padding=True)


def test_pack_gives_int64_pixel_data():
    assert TRANSFORMS.get('ComputeSuperpixels') is ComputeSuperpixels
    pipeline = Compose([
        TRANSFORMS.build(
            dict(type='ComputeSuperpixels', params=dict(n_segments=20))),
        PackWSSSInputs()
    ])
    sample = pipeline(_results(_image()))['data_samples']
    assert isinstance(sample.superpixel, PixelData)
    data = sample.superpixel.data
    assert data.dtype == torch.int64 and data.shape == (1, 40, 50)
    ids = ComputeSuperpixels(params=dict(n_segments=20))(
        _results(_image()))['superpixel']
    np.testing.assert_array_equal(data[0].numpy(), ids)
