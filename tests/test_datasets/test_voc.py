import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from wsstool.datasets.label_io import VOC_CLASSES, VOC_PALETTE, label_colormap
from wsstool.datasets.transforms import (LoadImageFromFile,
                                         LoadWSSSAnnotations, PackWSSSInputs)
from wsstool.datasets.voc import VOCDataset
from wsstool.registry import DATASETS

OBJECTS = {
    '2007_000032': ['aeroplane', 'person', 'aeroplane'],
    '2007_000039': ['tvmonitor'],
    '2008_000002': ['dog'],
}


def _label_vector(names):
    label = np.zeros(20, np.float32)
    label[[VOC_CLASSES.index(n) - 1 for n in names]] = 1
    return label


@pytest.fixture
def voc_root(tmp_path):
    """A three-image VOC2012 folder."""
    root = tmp_path / 'VOC2012'
    rng = np.random.RandomState(0)
    for folder in ('JPEGImages', 'Annotations', 'SegmentationClass',
                   'SegmentationClassAug', 'pseudo', 'conf',
                   'ImageSets/Segmentation'):
        (root / folder).mkdir(parents=True)
    for i, (img_id, names) in enumerate(OBJECTS.items()):
        h, w = 4 + i, 6
        img = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
        # PNG bytes under the .jpg name keep the test lossless
        (root / 'JPEGImages' / f'{img_id}.jpg').write_bytes(
            cv2.imencode('.png', img)[1].tobytes())
        objects = ''.join(f'<object><name>{n}</name></object>' for n in names)
        (root / 'Annotations' / f'{img_id}.xml').write_text(
            f'<annotation>{objects}</annotation>')
        seg = rng.choice([0, 255] + [VOC_CLASSES.index(n) for n in names],
                         (h, w)).astype(np.uint8)
        pal = Image.fromarray(seg, 'P')
        pal.putpalette(np.asarray(label_colormap(), np.uint8).ravel().tolist())
        pal.save(root / 'SegmentationClass' / f'{img_id}.png')
        Image.fromarray(seg).save(root / 'SegmentationClassAug' /
                                  f'{img_id}.png')
        Image.fromarray(np.minimum(seg, 20)).save(root / 'pseudo' /
                                                  f'{img_id}.png')
        conf = (rng.rand(h, w) > 0.5).astype(np.uint8) * 255
        Image.fromarray(np.repeat(conf[..., None], 3, 2)).save(
            root / 'conf' / f'{img_id}.png')
    ids = list(OBJECTS)
    (root / 'ImageSets/Segmentation/train.txt').write_text('\n'.join(ids))
    (root / 'pairs.txt').write_text(''.join(
        f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n' for i in ids))
    labels = {i: _label_vector(n) for i, n in OBJECTS.items()}
    np.save(root / 'cls_labels.npy', labels)
    np.save(root / 'cls_labels_int.npy',
            {np.int32(k.replace('_', '')): v for k, v in labels.items()})
    return str(root)


LIST = 'ImageSets/Segmentation/train.txt'


def test_classification_mode_reads_xml_labels(voc_root):
    dataset = VOCDataset(data_root=voc_root, ann_file=LIST)
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == VOC_CLASSES
    assert dataset.metainfo['palette'] == VOC_PALETTE
    for idx, (img_id, names) in enumerate(OBJECTS.items()):
        info = dataset.get_data_info(idx)
        assert info['img_id'] == img_id
        assert info['img_path'] == osp.join(voc_root, 'JPEGImages',
                                            f'{img_id}.jpg')
        assert info['gt_label'].dtype == np.float32
        np.testing.assert_array_equal(info['gt_label'], _label_vector(names))
        assert info['seg_map_path'] is None and info['conf_mask_path'] is None


@pytest.mark.parametrize('cls_label_file',
                         ['cls_labels.npy', 'cls_labels_int.npy'])
def test_cls_label_file_with_either_key_format(voc_root, cls_label_file):
    from_xml = VOCDataset(data_root=voc_root, ann_file=LIST)
    from_file = VOCDataset(
        data_root=voc_root, ann_file='pairs.txt',
        cls_label_file=cls_label_file)
    for idx in range(3):
        a, b = from_xml.get_data_info(idx), from_file.get_data_info(idx)
        assert a['img_id'] == b['img_id']
        np.testing.assert_array_equal(a['gt_label'], b['gt_label'])


@pytest.mark.parametrize('seg_dir', ['SegmentationClass',
                                     'SegmentationClassAug', 'pseudo'])
def test_segmentation_mode_yields_aligned_samples(voc_root, seg_dir):
    dataset = VOCDataset(
        data_root=voc_root, ann_file=LIST,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=seg_dir),
        conf_mask_dir='conf', cls_label_file='cls_labels.npy',
        pipeline=[LoadImageFromFile(),
                  LoadWSSSAnnotations(with_conf_mask=True),
                  PackWSSSInputs()])
    info = dataset.get_data_info(1)
    assert info['seg_map_path'] == osp.join(voc_root, seg_dir,
                                            '2007_000039.png')
    assert info['conf_mask_path'] == osp.join(voc_root, 'conf',
                                              '2007_000039.png')
    packed = dataset[1]
    sample = packed['data_samples']
    img = cv2.imread(info['img_path'])
    seg = np.array(Image.open(info['seg_map_path']))
    conf = np.array(Image.open(info['conf_mask_path']).convert('1'))
    np.testing.assert_array_equal(packed['inputs'].permute(1, 2, 0).numpy(),
                                  img)
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), seg)
    np.testing.assert_array_equal(sample.conf_mask.data[0].numpy(), conf)
    np.testing.assert_array_equal(sample.gt_label.numpy(),
                                  _label_vector(['tvmonitor']))
    assert sample.img_id == '2007_000039' and sample.ori_shape == (5, 6)


def test_build_from_config_with_registry(voc_root):
    init_default_scope('wsstool')
    dataset = DATASETS.build(
        dict(type='VOCDataset', data_root=voc_root, ann_file=LIST,
             pipeline=[dict(type='LoadImageFromFile'),
                       dict(type='PackWSSSInputs')]))
    assert isinstance(dataset, VOCDataset)
    assert dataset[2]['inputs'].shape == (3, 6, 6)


def test_images_without_any_annotation(voc_root):
    """The VOC test split: no XML, no image-level label, no label map."""
    os.remove(osp.join(voc_root, 'Annotations', '2007_000039.xml'))
    dataset = VOCDataset(
        data_root=voc_root, ann_file=LIST, with_cls_labels=False,
        pipeline=[LoadImageFromFile(), PackWSSSInputs()])
    assert 'gt_label' not in dataset.get_data_info(1)
    sample = dataset[1]['data_samples']
    assert sample.img_id == '2007_000039' and 'gt_label' not in sample
    with pytest.raises(FileNotFoundError, match='2007_000039.xml'):
        VOCDataset(data_root=voc_root, ann_file=LIST)


def test_label_file_errors_name_the_id_and_file(voc_root):
    labels = np.load(osp.join(voc_root, 'cls_labels.npy'),
                     allow_pickle=True).item()
    del labels['2007_000039']
    np.save(osp.join(voc_root, 'partial.npy'), labels)
    with pytest.raises(KeyError, match=r"'2007_000039'.*partial\.npy"):
        VOCDataset(data_root=voc_root, ann_file=LIST,
                   cls_label_file='partial.npy')
    np.save(osp.join(voc_root, 'short.npy'),
            {k: v[:5] for k, v in labels.items()})
    with pytest.raises(ValueError, match=r'shape \(5,\); expected \(20,\)'):
        VOCDataset(data_root=voc_root, ann_file=LIST,
                   cls_label_file='short.npy')
    os.remove(osp.join(voc_root, 'Annotations', '2007_000032.xml'))
    with pytest.raises(FileNotFoundError, match='2007_000032.xml'):
        VOCDataset(data_root=voc_root, ann_file=LIST)


def test_missing_paths_point_to_the_docs(voc_root, tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='nowhere.*docs/data_preparation.md'):
        VOCDataset(data_root=str(tmp_path / 'nowhere'), ann_file=LIST)
    with pytest.raises(FileNotFoundError,
                       match='val.txt.*docs/data_preparation.md'):
        VOCDataset(data_root=voc_root, ann_file='ImageSets/val.txt')
    os.remove(osp.join(voc_root, 'pseudo', '2008_000002.png'))
    with pytest.raises(FileNotFoundError,
                       match=r'1 of the 3 files for seg_map_path .* missing '
                       r'from the folder \S*pseudo, e.g.*2008_000002\.png'):
        VOCDataset(data_root=voc_root, ann_file=LIST,
                   data_prefix=dict(img_path='JPEGImages',
                                    seg_map_path='pseudo'))


def _save_cams(root, keys_of, suffix='.npz', skip=()):
    """CAM files of the listed images with the given class keys."""
    from wsstool.fileio import save_cam
    for index, img_id in enumerate(OBJECTS):
        if img_id in skip:
            continue
        keys = keys_of(img_id)
        fmt = 'npz' if suffix == '.npz' else 'psa'
        save_cam(osp.join(root, 'cams', img_id + suffix), keys,
                 np.random.rand(len(keys), 4 + index, 6), fmt=fmt)


def _true_keys(img_id):
    return np.flatnonzero(_label_vector(OBJECTS[img_id]))


REFINE_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMFromFile'),
    dict(type='PackWSSSInputs')
]


@pytest.mark.parametrize('suffix', ['.npz', '.npy'])
def test_cam_dir_gives_cams_in_the_data_sample(voc_root, suffix):
    from wsstool.fileio import load_cam
    init_default_scope('wsstool')
    _save_cams(voc_root, _true_keys, suffix)
    dataset = VOCDataset(
        data_root=voc_root, ann_file=LIST, cam_dir='cams', cam_suffix=suffix,
        pipeline=REFINE_PIPELINE)
    info = dataset.get_data_info(0)
    assert info['cam_path'] == osp.join(voc_root, 'cams',
                                        '2007_000032' + suffix)
    pred_cam = dataset[0]['data_samples'].pred_cam
    keys, cam = load_cam(info['cam_path'])
    np.testing.assert_array_equal(pred_cam.class_ids.numpy(), keys)
    np.testing.assert_array_equal(pred_cam.cam.numpy(), cam)
    assert sorted(keys.tolist()) == [0, 14]  # aeroplane, person


def test_missing_cam_files_are_counted_and_named(voc_root):
    _save_cams(voc_root, _true_keys, skip=('2007_000039', '2008_000002'))
    with pytest.raises(FileNotFoundError,
                       match=r'2 of the 3 files for cam_path.*2007_000039'):
        VOCDataset(data_root=voc_root, ann_file=LIST, cam_dir='cams')


def test_cams_of_other_classes_or_size_are_rejected(voc_root):
    init_default_scope('wsstool')
    _save_cams(voc_root, lambda img_id: np.array([3]))
    dataset = VOCDataset(
        data_root=voc_root, ann_file=LIST, cam_dir='cams',
        pipeline=REFINE_PIPELINE)
    with pytest.raises(ValueError,
                       match=r'2007_000032.npz holds CAMs of the classes '
                       r'\[3\].*has the classes \[0, 14\]'):
        dataset[0]
    from wsstool.fileio import save_cam
    save_cam(osp.join(voc_root, 'cams', '2007_000039.npz'), [19],
             np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r'size \(3, 3\).*size \(5, 6\)'):
        dataset[1]
