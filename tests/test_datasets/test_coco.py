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


def _labels_of(dataset):
    return [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]


def test_cls_label_file_by_stem_by_image_id_or_array(coco_root):
    """Three forms of the same labels (images 9, 25, 30 in list order)."""
    rows = np.zeros((3, 80))
    rows[0, [3, 5]] = [1, 2]  # BECO arrays are thresholded > 0
    rows[2, 7] = 1
    rows[1, 4] = -1
    stems = [_stem(i) for i in MASKS]
    np.save(osp.join(coco_root, 'stem.npy'),
            {s: (r > 0).astype(np.float32) for s, r in zip(stems, rows)})
    by_id = {np.int32(i): (r > 0).astype(np.float32)
             for i, r in zip(MASKS, rows)}
    by_id[np.int32(77)] = np.ones(80)  # an image not in the list
    np.save(osp.join(coco_root, 'image_id.npy'), by_id)
    np.save(osp.join(coco_root, 'train_labels.npy'), rows)
    expected = [[3, 5], [], [7]]
    for name in ('stem.npy', 'image_id.npy', 'train_labels.npy'):
        labels = _labels_of(COCODataset(
            data_root=coco_root, ann_file='ImageSets/train2014.txt',
            cls_label_file=name))
        assert [np.nonzero(label)[0].tolist() for label in labels] == expected
        assert all(label.dtype == np.float32 and label.shape == (80, )
                   for label in labels)


def test_cls_label_file_errors(coco_root):
    def load(content):
        np.save(osp.join(coco_root, 'bad.npy'), content, allow_pickle=True)
        COCODataset(data_root=coco_root, ann_file='ImageSets/train2014.txt',
                    cls_label_file='bad.npy')

    with pytest.raises(ValueError, match='bad.npy holds an array of shape '
                       '\\(2, 80\\); expected \\(3, 80\\): one row per '
                       'image of .*train2014.txt, in its order'):
        load(np.zeros((2, 80)))
    with pytest.raises(ValueError, match='expected \\(3, 80\\)'):
        load(np.zeros((3, 20)))
    with pytest.raises(KeyError, match=f"{_stem(25)}' listed in .*train2014"
                       '.txt has no label in .*bad.npy \\(a dict keyed by '
                       'integer image id, looked for 25\\)'):
        load({9: np.zeros(80), 30: np.zeros(80)})
    with pytest.raises(KeyError, match='keyed by image file stem'):
        load({'2007_000032': np.zeros(20)})
    with pytest.raises(ValueError, match="bad.npy has keys of types "
                       "\\['int', 'str'\\]"):
        load({9: np.zeros(80), _stem(25): np.zeros(80)})
    with pytest.raises(ValueError, match='bad.npy: label of 9 has shape '
                       '\\(20,\\); expected \\(80,\\)'):
        load({i: np.zeros(20) for i in MASKS})


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
