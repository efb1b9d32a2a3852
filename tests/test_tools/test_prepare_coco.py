import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from wsstool.datasets.coco import COCODataset
from wsstool.datasets.label_io import load_cls_labels, read_list_file
from tests.tool_loader import load_tool

prepare_coco = load_tool('prepare_coco')


def test_decode_rle_string_hand_computed():
    # 20 needs two characters (its bit 0x10 would read as a sign);
    # runs 4 and 18 are stored as differences to runs 4 and 2
    assert prepare_coco.decode_rle_string('d0420`0') == [20, 4, 2, 4, 18]
    # 'L' = 28 with the sign bit: -4, plus the run two before (5) = 1
    assert prepare_coco.decode_rle_string('3252L') == [3, 2, 5, 4, 1]
    assert prepare_coco.decode_rle_string('T3') == [100]


def test_rle_is_column_major():
    mask = prepare_coco.rle_to_mask([1, 3, 2], 2, 3)
    np.testing.assert_array_equal(mask, [[0, 1, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match='expected 2x3 = 6'):
        prepare_coco.rle_to_mask([1, 3], 2, 3)


def _inside_even_odd(x, y, xy):
    """Ray casting towards +x, one pixel centre at a time."""
    inside = False
    for (x0, y0), (x1, y1) in zip(xy, np.roll(xy, -1, axis=0)):
        if (y0 <= y) != (y1 <= y):
            cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            inside ^= x < cross
    return inside


def test_polygon_fill_samples_pixel_centres():
    square = np.array([[2, 2], [6, 2], [6, 6], [2, 6]], float)
    mask = prepare_coco.polygon_to_mask(square, 8, 9)
    expected = np.zeros((8, 9), bool)
    expected[2:6, 2:6] = True
    np.testing.assert_array_equal(mask, expected)  # area 16, as pycocotools
    concave = np.array([[0.3, 0.7], [9.6, 1.2], [4.1, 3.9], [8.7, 8.2],
                        [-2.0, 6.4], [2.2, 3.3]])
    mask = prepare_coco.polygon_to_mask(concave, 9, 10)
    brute = np.array([[_inside_even_odd(x + .5, y + .5, concave)
                       for x in range(10)] for y in range(9)])
    np.testing.assert_array_equal(mask, brute)
    assert 20 < mask.sum() < 70


def _write_json(path, images, annotations):
    cats = [dict(id=i, name=str(i)) for i in (1, 3, 13, 90)]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=cats), f)


@pytest.fixture
def coco_root(tmp_path):
    (tmp_path / 'annotations').mkdir()
    images = [dict(id=i, height=h, width=w,
                   file_name=f'COCO_train2014_{i:012d}.jpg')
              for i, h, w in ((30, 4, 5), (9, 6, 8), (25, 3, 3))]
    annotations = [
        dict(id=1, image_id=9, category_id=1, iscrowd=0,
             segmentation=[[1, 1, 5, 1, 5, 5, 1, 5], [0, 0, 1, 0]]),
        dict(id=2, image_id=9, category_id=90, iscrowd=0,
             segmentation=dict(size=[6, 8], counts='d0420`0')),
        dict(id=3, image_id=9, category_id=3, iscrowd=1,
             segmentation=dict(size=[6, 8], counts=[36, 12])),
        dict(id=5, image_id=30, category_id=1, iscrowd=0,
             segmentation=dict(size=[4, 5], counts=[5, 2, 13])),
        dict(id=4, image_id=30, category_id=13, iscrowd=0,
             segmentation=dict(size=[4, 5], counts=[4, 4, 12])),
    ]
    _write_json(tmp_path / 'annotations/instances_train2014.json', images,
                annotations)
    return str(tmp_path)


def _expected_maps():
    nine = np.zeros((6, 8), np.uint8)
    nine[1:5, 1:5] = 1  # person polygon
    nine[2:6, 3:5] = 80  # toothbrush RLE, painted later; crowd car stays 0
    thirty = np.zeros((4, 5), np.uint8)
    thirty[:, 1] = 12  # stop sign (category 13) paints over a person
    return {9: nine, 25: np.zeros((3, 3), np.uint8), 30: thirty}


def test_prepare_coco_writes_masks_labels_and_lists(coco_root):
    prepare_coco.main([coco_root, '--splits', 'train2014'])
    for image_id, expected in _expected_maps().items():
        with Image.open(osp.join(coco_root, 'mask/train2014',
                                 f'{image_id}.png')) as img:
            assert img.mode == 'L'
            np.testing.assert_array_equal(np.array(img), expected)
    stems = [f'COCO_train2014_{i:012d}' for i in (9, 25, 30)]
    assert read_list_file(osp.join(coco_root,
                                   'ImageSets/train2014.txt')) == stems
    # labels list every annotated category, also the crowd car of image 9
    # and the painted-over person of image 30
    labels = load_cls_labels(osp.join(coco_root, 'cls_labels_train2014.npy'))
    assert np.nonzero(labels[stems[0]])[0].tolist() == [0, 2, 79]
    assert not labels[stems[1]].any()
    assert np.nonzero(labels[stems[2]])[0].tolist() == [0, 11]
    # the dataset reads the outputs; labels from the masks lack those two
    os.makedirs(osp.join(coco_root, 'train2014'))
    kwargs = dict(data_root=coco_root, ann_file='ImageSets/train2014.txt')
    from_file = COCODataset(cls_label_file='cls_labels_train2014.npy',
                            drop_empty_images=True, **kwargs)
    from_masks = COCODataset(
        data_prefix=dict(img_path='train2014',
                         seg_map_path='mask/train2014'), **kwargs)
    assert len(from_file) == 2 and len(from_masks) == 3
    np.testing.assert_array_equal(from_file.get_data_info(1)['gt_label'],
                                  labels[stems[2]])
    assert np.nonzero(from_masks.get_data_info(0)['gt_label'])[0].tolist() == [
        0, 79
    ]
    assert np.nonzero(from_masks.get_data_info(2)['gt_label'])[0].tolist() == [
        11
    ]


def test_prepare_coco_is_rerunnable(coco_root):
    prepare_coco.main([coco_root, '--splits', 'train2014', '--nproc', '2'])
    outputs = [osp.join(coco_root, 'mask/train2014', f'{i}.png')
               for i in (9, 25, 30)] + [
                   osp.join(coco_root, 'cls_labels_train2014.npy'),
                   osp.join(coco_root, 'ImageSets/train2014.txt')]
    stamps = {path: os.stat(path).st_mtime_ns for path in outputs}
    os.remove(outputs[0])
    os.remove(outputs[3])
    prepare_coco.main([coco_root, '--splits', 'train2014'])
    for path, stamp in stamps.items():
        assert osp.exists(path)
        if path not in (outputs[0], outputs[3]):
            assert os.stat(path).st_mtime_ns == stamp
    labels = load_cls_labels(outputs[3])
    assert np.nonzero(labels['COCO_train2014_000000000009'])[0].tolist() == [
        0, 2, 79
    ]


def test_prepare_coco_errors(coco_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='instances_val2014.json'):
        prepare_coco.main([coco_root, '--splits', 'val2014'])
    bad = tmp_path / 'bad'
    bad.mkdir()
    _write_json(bad / 'instances_x.json',
                [dict(id=1, height=2, width=2, file_name='COCO_x_1.jpg')],
                [dict(id=7, image_id=1, category_id=12, iscrowd=0,
                      segmentation=[[0, 0, 2, 0, 2, 2]])])
    with pytest.raises(ValueError, match='annotation 7 has category_id 12'):
        prepare_coco.main([str(bad), '--splits', 'x', '--ann-dir',
                           str(bad)])
