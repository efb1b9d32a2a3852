import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from mmengine.dataset import Compose
from mmengine.structures import PixelData
from PIL import Image

from wsstool.datasets.transforms import (LoadImageFromFile,
                                         LoadWSSSAnnotations, PackWSSSInputs,
                                         PhotoMetricDistortion,
                                         RandomCropWithPad, RandomFlip,
                                         RandomLongSideResize, RandomRescale,
                                         Resize)
from wsstool.datasets.transforms.processing import RandomResizedCrop
from wsstool.registry import TRANSFORMS
from wsstool.structures import WSSSDataSample


def _results(h=6, w=8, seed=0):
    """Image whose channels encode the pixel position, and seg fields that
    encode it too, so any misalignment is visible."""
    rng = np.random.RandomState(seed)
    img = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    img[..., 0] = np.arange(h)[:, None]
    img[..., 1] = np.arange(w)[None]
    seg = (np.arange(h * w).reshape(h, w) % 250).astype(np.uint8)
    conf = rng.rand(h, w) > 0.5
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w), gt_seg_map=seg,
                conf_mask=conf, seg_fields=['gt_seg_map', 'conf_mask'])


def test_registry_builds_wsstool_versions():
    for name in ('LoadImageFromFile', 'LoadWSSSAnnotations', 'Resize',
                 'RandomLongSideResize', 'RandomRescale', 'RandomFlip',
                 'RandomCropWithPad', 'PhotoMetricDistortion',
                 'PackWSSSInputs'):
        assert TRANSFORMS.get(name).__module__.startswith(
            'wsstool.datasets.transforms')
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))
    assert isinstance(flip, RandomFlip)


def test_load_image_bgr_and_errors(tmp_path):
    bgr = np.zeros((5, 7, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    bgr[1, 2] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / 'a.png'), bgr)
    for backend in ('cv2', 'pillow'):
        out = LoadImageFromFile(imdecode_backend=backend)(
            dict(img_path=str(tmp_path / 'a.png')))
        np.testing.assert_array_equal(out['img'], bgr)
        assert out['img_shape'] == out['ori_shape'] == (5, 7)
    (tmp_path / 'bad.jpg').write_bytes(b'not an image at all')
    for backend in ('cv2', 'pillow'):
        with pytest.raises(OSError, match='bad.jpg'):
            LoadImageFromFile(imdecode_backend=backend)(
                dict(img_path=str(tmp_path / 'bad.jpg')))
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        LoadImageFromFile()(dict(img_path=str(tmp_path / 'missing.jpg')))


def test_load_annotations(tmp_path):
    label = np.array([[0, 1, 255], [20, 3, 0]], np.uint8)
    pal = Image.fromarray(label, 'P')
    pal.putpalette([0] * 768)
    pal.save(tmp_path / 'seg.png')
    conf = np.array([[True, False, True], [False, False, True]])
    rgb = np.repeat(conf[..., None] * np.uint8(255), 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / 'conf_rgb.png')
    Image.fromarray(conf.astype(np.uint8)).save(tmp_path / 'conf01.png')
    Image.fromarray(conf * np.uint8(255)).save(tmp_path / 'conf255.png')
    Image.fromarray(conf).save(tmp_path / 'conf1bit.png')

    load = LoadWSSSAnnotations(with_seg_map=True, with_conf_mask=True)
    for name in ('conf_rgb', 'conf01', 'conf255', 'conf1bit'):
        out = load(dict(img_id='x', img_shape=(2, 3),
                        seg_map_path=str(tmp_path / 'seg.png'),
                        conf_mask_path=str(tmp_path / f'{name}.png')))
        np.testing.assert_array_equal(out['gt_seg_map'], label)
        assert out['conf_mask'].dtype == bool
        np.testing.assert_array_equal(out['conf_mask'], conf)
        assert out['seg_fields'] == ['gt_seg_map', 'conf_mask']

    Image.fromarray(np.full((2, 3), 7, np.uint8)).save(tmp_path / 'bad.png')
    with pytest.raises(ValueError, match='bad.png'):
        LoadWSSSAnnotations(False, True)(
            dict(conf_mask_path=str(tmp_path / 'bad.png')))
    with pytest.raises(ValueError, match='seg.png has size'):
        LoadWSSSAnnotations()(dict(img_shape=(3, 3), img_path='i.jpg',
                                   seg_map_path=str(tmp_path / 'seg.png')))
    # a confidence mask of another image than the label's
    with pytest.raises(ValueError,
                       match=r'conf255.png has size \(2, 3\), but its image '
                       r'i.jpg has size \(3, 3\)'):
        LoadWSSSAnnotations(False, True)(
            dict(img_shape=(3, 3), img_path='i.jpg',
                 conf_mask_path=str(tmp_path / 'conf255.png')))
    with pytest.raises(KeyError, match="'2007_000032' has no seg_map_path"):
        LoadWSSSAnnotations()(dict(img_id='2007_000032', seg_map_path=None))


def test_load_annotations_checks_the_class_range(tmp_path):
    label = np.array([[0, 20, 255], [21, 3, 30]], np.uint8)
    Image.fromarray(label).save(tmp_path / 'pseudo.png')
    results = dict(img_id='x', seg_map_path=str(tmp_path / 'pseudo.png'))
    with pytest.raises(ValueError, match=r'pseudo\.png holds label values '
                       r'\[21, 30\] outside \[0, 21\)'):
        LoadWSSSAnnotations(num_classes=21)(dict(results))
    out = LoadWSSSAnnotations(num_classes=31)(dict(results))
    np.testing.assert_array_equal(out['gt_seg_map'], label)
    # no check without num_classes
    out = LoadWSSSAnnotations()(dict(results))
    np.testing.assert_array_equal(out['gt_seg_map'], label)
    with pytest.raises(ValueError, match='num_classes must be in'):
        LoadWSSSAnnotations(num_classes=0)


def test_resize_fixed_and_keep_ratio():
    res = _results(6, 8)
    src = {k: res[k].copy() for k in ('img', 'gt_seg_map', 'conf_mask')}
    out = Resize(scale=(16, 12), interpolation='nearest')(res)
    for key, value in src.items():
        expected = value.repeat(2, axis=0).repeat(2, axis=1)
        np.testing.assert_array_equal(out[key], expected)
    assert out['conf_mask'].dtype == bool
    assert out['img_shape'] == (12, 16) and out['scale_factor'] == (2.0, 2.0)

    out = Resize(scale=(20, 9), keep_ratio=True)(_results(6, 8))
    # factor = min(20 / 8, 9 / 6) = 1.5
    assert out['img'].shape == (9, 12, 3)
    assert out['gt_seg_map'].shape == (9, 12)
    assert out['scale_factor'] == (1.5, 1.5)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_random_long_side_resize_keeps_labels_aligned(backend):
    block = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8)
    seg = np.kron(block, np.ones((5, 5), np.uint8))  # (10, 20)
    colors = np.random.RandomState(1).randint(0, 256, (9, 3)).astype(np.uint8)
    res = dict(img=colors[seg], gt_seg_map=seg, conf_mask=seg > 4,
               seg_fields=['gt_seg_map', 'conf_mask'])
    out = RandomLongSideResize(scale_range=(40, 40), backend=backend)(res)
    expected = np.kron(block, np.ones((10, 10), np.uint8))
    np.testing.assert_array_equal(out['gt_seg_map'], expected)
    np.testing.assert_array_equal(out['conf_mask'], expected > 4)
    # bicubic image: away from block borders the colour is the label's
    inner = np.zeros_like(expected, bool)
    for y in range(2):
        for x in range(4):
            inner[10 * y + 4:10 * y + 7, 10 * x + 4:10 * x + 7] = True
    np.testing.assert_array_equal(out['img'][inner],
                                  colors[out['gt_seg_map']][inner])


def test_random_long_side_resize_range_and_seed():
    sizes = []
    for seed in range(20):
        np.random.seed(seed)
        out = RandomLongSideResize(scale_range=(10, 16))(_results(6, 8))
        h, w = out['img'].shape[:2]
        assert 10 <= w <= 16 and h == round(6 * w / 8)
        assert out['gt_seg_map'].shape == out['conf_mask'].shape == (h, w)
        sizes.append(w)
    assert len(set(sizes)) > 3
    np.random.seed(3)
    first = RandomLongSideResize(scale_range=(10, 16))(_results())['img']
    np.random.seed(3)
    again = RandomLongSideResize(scale_range=(10, 16))(_results())['img']
    np.testing.assert_array_equal(first, again)


def test_random_rescale():
    out = RandomRescale(ratio_range=(0.5, 0.5), interpolation='nearest')(
        _results(6, 8))
    assert out['img'].shape == (3, 4, 3)
    assert out['scale_factor'] == (0.5, 0.5)
    np.random.seed(0)
    for _ in range(10):
        out = RandomRescale(ratio_range=(0.5, 2.0))(_results(10, 10))
        h, w = out['gt_seg_map'].shape
        assert h == w and 5 <= h <= 20 and out['img'].shape[:2] == (h, w)


def test_random_flip_moves_every_seg_field():
    res = _results()
    src = {k: res[k].copy() for k in ('img', 'gt_seg_map', 'conf_mask')}
    out = RandomFlip(prob=1.0)(res)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    for key, value in src.items():
        np.testing.assert_array_equal(out[key], value[:, ::-1])
    out = RandomFlip(prob=1.0, direction='vertical')(_results())
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  _results()['gt_seg_map'][::-1])
    out = RandomFlip(prob=0.0)(_results())
    assert not out['flip'] and out['flip_direction'] is None
    np.testing.assert_array_equal(out['img'], _results()['img'])
    np.random.seed(0)
    flips = [RandomFlip()(_results())['flip'] for _ in range(200)]
    assert 70 < sum(flips) < 130


def test_random_crop_with_pad_content_and_padding():
    for seed in range(10):
        np.random.seed(seed)
        res = _results(5, 7, seed)
        src = {k: res[k].copy() for k in ('img', 'gt_seg_map', 'conf_mask')}
        out = RandomCropWithPad(crop_size=(4, 10))(res)
        valid = out['valid_mask']
        assert out['seg_fields'] == ['gt_seg_map', 'conf_mask', 'valid_mask']
        assert out['img'].shape == (4, 10, 3) and out['img_shape'] == (4, 10)
        ys, xs = np.nonzero(valid)
        top, left = ys.min(), xs.min()
        assert valid.sum() == 4 * 7 and (ys.max() - top, xs.max() - left) == (
            3, 6)
        # the valid region is a full-width window of the source rows
        src_top = out['img'][top, left, 0]  # channel 0 encodes the row
        window = (slice(src_top, src_top + 4), slice(0, 7))
        region = (slice(top, top + 4), slice(left, left + 7))
        for key, value in src.items():
            np.testing.assert_array_equal(out[key][region], value[window])
        np.testing.assert_array_equal(out['img'][~valid],
                                      np.tile([104, 116, 124], (12, 1)))
        assert (out['gt_seg_map'][~valid] == 255).all()
        assert not out['conf_mask'][~valid].any()


def test_random_crop_smaller_than_image_and_seed():
    np.random.seed(0)
    res = _results(6, 8)
    img = res['img'].copy()
    out = RandomCropWithPad(crop_size=3, seg_pad_val=0)(res)
    assert out['valid_mask'].all() and out['img'].shape == (3, 3, 3)
    top, left = out['img'][0, 0, 0], out['img'][0, 0, 1]
    np.testing.assert_array_equal(out['img'], img[top:top + 3,
                                                  left:left + 3])
    np.random.seed(5)
    a = RandomCropWithPad(crop_size=(9, 4))(_results())
    np.random.seed(5)
    b = RandomCropWithPad(crop_size=(9, 4))(_results())
    for key in ('img', 'gt_seg_map', 'valid_mask'):
        np.testing.assert_array_equal(a[key], b[key])


def _torchvision(img_bgr, op, factor):
    """Reference: torchvision's functional op on the float RGB image."""
    rgb = torch.from_numpy(img_bgr[..., ::-1].copy()).permute(2, 0, 1) / 255.
    out = getattr(TF, f'adjust_{op}')(rgb, factor)
    return out.permute(1, 2, 0).numpy()[..., ::-1] * 255


@pytest.mark.parametrize('op,factor', [
    ('brightness', 1.3), ('brightness', 0.6), ('contrast', 1.4),
    ('contrast', 0.7), ('saturation', 1.5), ('saturation', 0.2), ('hue', 0.1),
    ('hue', -0.27)
])
def test_photometric_distortion_matches_torchvision(op, factor):
    img = np.random.RandomState(0).randint(0, 256, (6, 7, 3)).astype(np.uint8)
    ranges = dict(brightness=0, contrast=0, saturation=0, hue=0)
    ranges[op] = (factor, factor)
    out = PhotoMetricDistortion(**ranges)(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.shape == img.shape
    expected = _torchvision(img, op, factor)
    # rounding to uint8, plus torchvision's luma weight 0.2989 (vs 0.299)
    assert np.abs(out.astype(np.float32) - expected).max() <= 0.55


def test_photometric_distortion_random_and_seeded():
    img = np.random.RandomState(0).randint(0, 256, (6, 7, 3)).astype(np.uint8)
    jitter = PhotoMetricDistortion(0.3, 0.3, 0.3, 0.1)
    np.random.seed(1)
    a = jitter(dict(img=img.copy()))['img']
    np.random.seed(1)
    b = jitter(dict(img=img.copy()))['img']
    c = jitter(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, img) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match='hue'):
        PhotoMetricDistortion(hue=0.7)
    with pytest.raises(ValueError, match='brightness'):
        PhotoMetricDistortion(brightness=-1)


def test_pack_inputs():
    res = _results(4, 5)
    res.update(img_id='2007_000032', img_path='a.jpg', flip=False,
               flip_direction=None, scale_factor=(1.0, 1.0),
               gt_label=np.eye(20, dtype=np.float32)[3],
               valid_mask=np.ones((4, 5), bool))
    packed = PackWSSSInputs()(res)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert isinstance(sample, WSSSDataSample)
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 4, 5)
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), res['img'])
    assert sample.gt_label.dtype == torch.float32
    assert sample.gt_label.argmax().item() == 3
    assert isinstance(sample.gt_sem_seg, PixelData)
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.gt_sem_seg.data.shape == (1, 4, 5)
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(),
                                  res['gt_seg_map'])
    for key in ('conf_mask', 'valid_mask'):
        data = getattr(sample, key).data
        assert data.dtype == torch.bool and data.shape == (1, 4, 5)
        np.testing.assert_array_equal(data[0].numpy(), res[key])
    assert sample.metainfo == dict(
        img_id='2007_000032', img_path='a.jpg', ori_shape=(4, 5),
        img_shape=(4, 5), flip=False, flip_direction=None,
        scale_factor=(1.0, 1.0))
    minimal = PackWSSSInputs()(dict(img=res['img']))['data_samples']
    assert 'gt_sem_seg' not in minimal and 'gt_label' not in minimal


def test_training_pipeline_is_deterministic_given_the_seed(tmp_path):
    img = np.random.RandomState(0).randint(0, 256, (30, 40, 3)).astype(
        np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    Image.fromarray((np.arange(1200) % 21).reshape(30, 40).astype(
        np.uint8)).save(tmp_path / 's.png')
    pipeline = Compose([
        LoadImageFromFile(), LoadWSSSAnnotations(),
        RandomLongSideResize((20, 60)), RandomFlip(), PhotoMetricDistortion(),
        RandomCropWithPad(32), PackWSSSInputs()
    ])

    def run(seed):
        np.random.seed(seed)
        return pipeline(dict(img_path=str(tmp_path / 'a.png'),
                             seg_map_path=str(tmp_path / 's.png')))

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'].gt_sem_seg.data,
                       b['data_samples'].gt_sem_seg.data)
    assert not torch.equal(a['inputs'], c['inputs'])
    assert a['inputs'].shape == (3, 32, 32)


def test_random_resized_crop_area_and_aspect_ranges():
    h, w = 60, 80
    crop = RandomResizedCrop(16, scale=(0.5, 0.75), ratio=(3 / 4, 4 / 3))
    areas, aspects, tops = [], [], set()
    for seed in range(300):
        np.random.seed(seed)
        top, left, crop_h, crop_w = crop.sample_box(h, w)
        assert 0 <= top and top + crop_h <= h
        assert 0 <= left and left + crop_w <= w
        areas.append(crop_h * crop_w / (h * w))
        aspects.append(crop_w / crop_h)
        tops.add(top)
    # sides are rounded to whole pixels: allow ~1 pixel of slack
    assert 0.5 - 0.02 <= min(areas) < 0.53
    assert 0.72 < max(areas) <= 0.75 + 0.02
    assert 0.75 - 0.03 <= min(aspects) < 0.8
    assert 1.25 < max(aspects) <= 4 / 3 + 0.03
    assert len(tops) > 5


def test_random_resized_crop_falls_back_to_a_central_crop():
    crop = RandomResizedCrop(8)
    # no crop of half the area fits a 10x100 strip with aspect <= 4/3:
    # the central crop of aspect 4/3 and full height
    for seed in range(5):
        np.random.seed(seed)
        assert crop.sample_box(10, 100) == (0, (100 - 13) // 2, 10, 13)
        assert crop.sample_box(100, 10) == ((100 - 13) // 2, 0, 13, 10)
    # no crop can exceed the image area: the whole image (aspect in range)
    too_big = RandomResizedCrop(8, scale=(1.5, 2.0))
    assert too_big.sample_box(30, 40) == (0, 0, 30, 40)


def test_random_resized_crop_matches_torchvision_on_pil_images():
    res = _results(40, 50, seed=3)
    src = {k: res[k].copy() for k in ('img', 'gt_seg_map', 'conf_mask')}
    crop = RandomResizedCrop((24, 20), backend='pillow')
    np.random.seed(7)
    top, left, crop_h, crop_w = crop.sample_box(40, 50)
    np.random.seed(7)
    out = crop(res)

    def reference(arr, mode):
        return np.array(
            TF.resized_crop(
                Image.fromarray(arr), top, left, crop_h, crop_w, [24, 20],
                interpolation=mode))

    modes = TF.InterpolationMode
    np.testing.assert_array_equal(out['img'],
                                  reference(src['img'], modes.BILINEAR))
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  reference(src['gt_seg_map'], modes.NEAREST))
    np.testing.assert_array_equal(
        out['conf_mask'],
        reference(src['conf_mask'].astype(np.uint8), modes.NEAREST) > 0)
    assert out['conf_mask'].dtype == bool
    assert out['img_shape'] == (24, 20)
    assert out['scale_factor'] == (20 / crop_w, 24 / crop_h)


def test_random_resized_crop_keeps_labels_and_masks_aligned():
    rng = np.random.RandomState(0)
    label = rng.choice(np.array([0, 4, 7, 255], np.uint8), size=(45, 61))
    crop = TRANSFORMS.build(dict(type='RandomResizedCrop', size=32))
    for seed in range(10):
        np.random.seed(seed)
        out = crop(dict(
            img=np.zeros((45, 61, 3), np.uint8), gt_seg_map=label.copy(),
            conf_mask=label % 2 == 0, seg_fields=['gt_seg_map', 'conf_mask']))
        assert out['img'].shape == (32, 32, 3)
        assert out['gt_seg_map'].shape == out['conf_mask'].shape == (32, 32)
        # nearest neighbour: no new values, and the mask moves with them
        assert set(np.unique(out['gt_seg_map'])) <= {0, 4, 7, 255}
        np.testing.assert_array_equal(out['conf_mask'],
                                      out['gt_seg_map'] % 2 == 0)
    with pytest.raises(ValueError, match='scale must be a'):
        RandomResizedCrop(32, scale=(0.75, 0.5))
