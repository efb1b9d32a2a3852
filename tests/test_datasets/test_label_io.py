import numpy as np
import pytest

from wsstool.datasets.label_io import (VOC_CLASSES, VOC_PALETTE,
                                       decode_voc_int_id, label_colormap,
                                       load_cls_labels,
                                       multi_hot_from_label_map,
                                       parse_voc_xml, read_cls_label_file,
                                       read_list_file, save_cls_labels,
                                       write_list_file)

FG = VOC_CLASSES[1:]


def test_voc_classes_and_palette_follow_the_devkit():
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[0] == 'background'
    assert VOC_CLASSES[15] == 'person' and VOC_CLASSES[20] == 'tvmonitor'
    expected = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0),
                7: (128, 128, 128), 8: (64, 0, 0), 12: (64, 0, 128),
                15: (192, 128, 128), 16: (0, 64, 0), 20: (0, 64, 128)}
    for label, rgb in expected.items():
        assert VOC_PALETTE[label] == rgb
    assert len(VOC_PALETTE) == 21
    assert label_colormap()[255] == (224, 224, 192)


def test_read_list_file_bare_ids_and_pairs(tmp_path):
    bare = tmp_path / 'bare.txt'
    bare.write_text('2007_000032\n\n2007_000039  \n')
    pairs = tmp_path / 'pairs.txt'
    pairs.write_text('/JPEGImages/2007_000032.jpg /SegmentationClassAug/'
                     '2007_000032.png\n/JPEGImages/2007_000039.jpg\n')
    assert read_list_file(str(bare)) == ['2007_000032', '2007_000039']
    assert read_list_file(str(pairs)) == ['2007_000032', '2007_000039']


def test_read_list_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='data_preparation.md'):
        read_list_file(str(tmp_path / 'nope.txt'))
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(ValueError, match='no entries'):
        read_list_file(str(tmp_path / 'empty.txt'))


def test_write_list_file_both_formats(tmp_path):
    ids = ['2007_000032', '2008_000002']
    write_list_file(str(tmp_path / 'a.txt'), ids)
    write_list_file(str(tmp_path / 'b.txt'), ids, pairs=True)
    assert (tmp_path / 'a.txt').read_text() == '2007_000032\n2008_000002\n'
    assert (tmp_path / 'b.txt').read_text().splitlines()[1] == (
        '/JPEGImages/2008_000002.jpg /SegmentationClassAug/2008_000002.png')
    assert read_list_file(str(tmp_path / 'b.txt')) == ids


def test_cls_labels_string_and_int_keys_give_the_same_labels(tmp_path):
    labels = {'2007_000032': np.eye(20)[0], '2011_003276': np.eye(20)[14]}
    save_cls_labels(str(tmp_path / 's.npy'), labels)
    save_cls_labels(str(tmp_path / 'i.npy'), labels, int_keys=True)
    raw = np.load(tmp_path / 'i.npy', allow_pickle=True).item()
    assert set(raw) == {2007000032, 2011003276}
    assert all(isinstance(k, np.int32) for k in raw)
    for name in ('s.npy', 'i.npy'):
        loaded = load_cls_labels(str(tmp_path / name))
        assert set(loaded) == set(labels)
        for key, value in labels.items():
            assert loaded[key].dtype == np.float32
            np.testing.assert_array_equal(loaded[key], value)


def test_cls_label_errors(tmp_path):
    assert decode_voc_int_id(np.int32(2008000002)) == '2008_000002'
    with pytest.raises(ValueError, match='yyyynnnnnn'):
        decode_voc_int_id(9)
    np.save(tmp_path / 'arr.npy', np.zeros((3, 20)))
    with pytest.raises(ValueError, match='pickled dict'):
        load_cls_labels(str(tmp_path / 'arr.npy'))
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        load_cls_labels(str(tmp_path / 'missing.npy'))
    # integer keys that are not VOC ids (e.g. COCO image ids)
    np.save(tmp_path / 'coco.npy', {9: np.zeros(80)})
    with pytest.raises(ValueError, match='coco.npy: integer key 9 is not a '
                       'VOC id'):
        load_cls_labels(str(tmp_path / 'coco.npy'))


def test_read_cls_label_file_keeps_dicts_and_arrays(tmp_path):
    np.save(tmp_path / 'dict.npy', {9: np.eye(3)[1]})
    content = read_cls_label_file(str(tmp_path / 'dict.npy'))
    assert list(content) == [9]
    np.testing.assert_array_equal(content[9], [0, 1, 0])
    np.save(tmp_path / 'arr.npy', np.eye(3)[:2])
    np.testing.assert_array_equal(
        read_cls_label_file(str(tmp_path / 'arr.npy')), np.eye(3)[:2])
    np.save(tmp_path / 'list.npy', np.array([{}, {}], dtype=object))
    with pytest.raises(ValueError, match='list.npy holds an object array of '
                       'shape \\(2,\\)'):
        read_cls_label_file(str(tmp_path / 'list.npy'))


def _xml(names):
    objects = ''.join(f'<object><name>{n}</name><difficult>0</difficult>'
                      '</object>' for n in names)
    return f'<annotation><filename>x.jpg</filename>{objects}</annotation>'


def test_parse_voc_xml(tmp_path):
    path = tmp_path / 'a.xml'
    path.write_text(_xml(['person', 'dog', ' person ', 'aeroplane']))
    label = parse_voc_xml(str(path), FG)
    assert label.dtype == np.float32 and label.shape == (20, )
    assert np.nonzero(label)[0].tolist() == [0, 11, 14]
    path.write_text(_xml(['unicorn']))
    with pytest.raises(ValueError, match="'unicorn'"):
        parse_voc_xml(str(path), FG)


def test_multi_hot_from_label_map():
    label_map = np.array([[0, 3, 255], [80, 3, 0]], np.uint8)
    label = multi_hot_from_label_map(label_map, 80)
    assert np.nonzero(label)[0].tolist() == [2, 79]
    with pytest.raises(ValueError, match='class id 80'):
        multi_hot_from_label_map(label_map, 20, source='m.png')
