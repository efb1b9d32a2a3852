import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from wsstool.datasets.coco import (COCO_CATEGORY_IDS, COCO_CATEGORY_TO_LABEL,
                                   COCO_CLASSES, COCODataset, coco_image_id)
from wsstool.datasets.transforms import (LoadImageFromFile,
                                         LoadWSSSAnnotations, PackWSSSInputs)

# image id -> label map values (0 background, 1..80 classes)
MASKS = {9: [0, 1, 57], 25: [0], 30: [0, 80, 255]}


def _stem(image_id):
    return f'COCO_train2014_{image_id:012d}'


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / 'coco'
    for folder in ('train2014', 'mask/train2014', 'pseudo', 'ImageSets'):
        (root / folder).mkdir(parents=True)
    rng = np.random.RandomState(0)
    for image_id, values in MASKS.items():
        img = rng.randint(0, 256, (4, 5, 3)).astype(np.uint8)
        (root / 'train2014' / f'{_stem(image_id)}.jpg').write_bytes(
            cv2.imencode('.png', img)[1].tobytes())
        mask = np.resize(np.array(values, np.uint8), (4, 5))
        Image.fromarray(mask).save(root / 'mask/train2014' / f'{image_id}.png')
        Image.fromarray(mask[::-1].copy()).save(root / 'pseudo' /
                                                f'{_stem(image_id)}.png')
    (root / 'ImageSets/train2014.txt').write_text(
        ''.join(f'{_stem(i)}\n' for i in MASKS))
    return str(root)


def test_class_map_of_coco_2014():
    assert len(COCO_CLASSES) == 81 and COCO_CLASSES[0] == 'background'
    assert len(COCO_CATEGORY_IDS) == 80 and COCO_CATEGORY_IDS[-1] == 90
    for unused in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83):
        assert unused not in COCO_CATEGORY_TO_LABEL
    assert COCO_CATEGORY_TO_LABEL[1] == 1  # person
    assert COCO_CLASSES[COCO_CATEGORY_TO_LABEL[13]] == 'stop sign'
    assert COCO_CLASSES[COCO_CATEGORY_TO_LABEL[31]] == 'handbag'
    assert COCO_CLASSES[COCO_CATEGORY_TO_LABEL[84]] == 'book'
    assert COCO_CATEGORY_TO_LABEL[90] == 80  # toothbrush
    assert coco_image_id('COCO_val2014_000000000042') == 42
    with pytest.raises(ValueError, match='2007_abc'):
        coco_image_id('2007_abc')


def test_labels_from_gt_masks_and_paths(coco_root):
    dataset = COCODataset(
        data_root=coco_root, ann_file='ImageSets/train2014.txt',
        data_prefix=dict(img_path='train2014', seg_map_path='mask/train2014'))
    assert len(dataset) == 3
    assert len(dataset.metainfo['classes']) == 81
    assert len(dataset.metainfo['palette']) == 81
    info = dataset.get_data_info(0)
    assert info['img_id'] == _stem(9)
    assert info['img_path'] == osp.join(coco_root, 'train2014',
                                        f'{_stem(9)}.jpg')
    assert info['seg_map_path'] == osp.join(coco_root, 'mask/train2014',
                                            '9.png')
    assert info['gt_label'].shape == (80, )
    assert np.nonzero(info['gt_label'])[0].tolist() == [0, 56]
    assert not dataset.get_data_info(1)['gt_label'].any()
    assert np.nonzero(dataset.get_data_info(2)['gt_label'])[0].tolist() == [
        79
    ]


def test_drop_empty_images_and_cls_label_file(coco_root):
    labels = {_stem(9): np.eye(80)[3], _stem(25): np.zeros(80),
              _stem(30): np.eye(80)[7]}
    np.save(osp.join(coco_root, 'cls_labels_train2014.npy'), labels)
    kept = COCODataset(
        data_root=coco_root, ann_file='ImageSets/train2014.txt',
        cls_label_file='cls_labels_train2014.npy', drop_empty_images=True)
    assert [kept.get_data_info(i)['img_id'] for i in range(len(kept))] == [
        _stem(9), _stem(30)
    ]
    assert kept.get_data_info(1)['gt_label'].argmax() == 7
    assert kept.get_data_info(0)['seg_map_path'] is None
    full = COCODataset(
        data_root=coco_root, ann_file='ImageSets/train2014.txt',
        cls_label_file='cls_labels_train2014.npy')
    assert len(full) == 3
    with pytest.raises(ValueError, match='cls_label_file or'):
        COCODataset(data_root=coco_root, ann_file='ImageSets/train2014.txt')


def test_pseudo_labels_named_by_stem(coco_root):
    dataset = COCODataset(
        data_root=coco_root, ann_file='ImageSets/train2014.txt',
        data_prefix=dict(img_path='train2014', seg_map_path='pseudo'),
        seg_map_naming='stem',
        pipeline=[LoadImageFromFile(), LoadWSSSAnnotations(),
                  PackWSSSInputs()])
    sample = dataset[0]['data_samples']
    expected = np.resize(np.array(MASKS[9], np.uint8), (4, 5))[::-1]
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), expected)
    assert sample.img_id == _stem(9)
    with pytest.raises(ValueError, match='seg_map_naming'):
        COCODataset(data_root=coco_root, ann_file='ImageSets/train2014.txt',
                    seg_map_naming='int')
