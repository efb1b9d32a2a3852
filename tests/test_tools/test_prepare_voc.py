import os
import os.path as osp
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from wsstool.datasets.label_io import (VOC_CLASSES, label_colormap,
                                       load_cls_labels, read_list_file)
from tests.tool_loader import load_tool

prepare_voc = load_tool('prepare_voc')


class MatWriter:
    """Writes MATLAB v5 files the way MATLAB lays them out (small elements
    for <= 4 bytes, 8-byte padding, optional zlib compression)."""

    def __init__(self, endian='<'):
        self.e = endian

    def tag(self, mi_type, payload):
        if len(payload) <= 4:  # small element: size and type in one word
            word = (len(payload) << 16) | mi_type
            return struct.pack(self.e + 'I', word) + payload.ljust(4, b'\0')
        pad = b'\0' * (-len(payload) % 8)
        head = struct.pack(self.e + 'II', mi_type, len(payload))
        return head + payload + pad

    def matrix(self, mx_class, dims, name, body):
        flags = self.tag(6, struct.pack(self.e + 'II', mx_class, 0))
        dims = self.tag(5, np.asarray(dims, self.e + 'i4').tobytes())
        return self.tag(14, flags + dims + self.tag(1, name.encode()) + body)

    def numeric(self, arr, mx_class, mi_type, dtype, name=''):
        data = np.asarray(arr).astype(self.e + dtype).tobytes(order='F')
        return self.matrix(mx_class, np.shape(arr), name,
                           self.tag(mi_type, data))

    def struct(self, name, fields):
        width = 32
        names = b''.join(n.encode().ljust(width, b'\0') for n in fields)
        body = (self.tag(5, struct.pack(self.e + 'i', width)) +
                self.tag(1, names) + b''.join(fields.values()))
        return self.matrix(2, (1, 1), name, body)

    def save(self, path, variables, compress=True):
        header = b'MATLAB 5.0 MAT-file, Platform: test'.ljust(116) + \
            b'\0' * 8 + struct.pack(self.e + 'H', 0x0100) + \
            (b'IM' if self.e == '<' else b'MI')
        body = b''
        for element in variables:
            if compress:
                packed = zlib.compress(element)
                body += struct.pack(self.e + 'II', 15, len(packed)) + packed
            else:
                body += element
        with open(path, 'wb') as f:
            f.write(header + body)


def write_sbd_mat(path, seg, endian='<', compress=True, seg_as_double=False):
    """An SBD-like cls .mat: GTcls with Boundaries (cell), Segmentation and
    CategoriesPresent, preceded by another variable."""
    w = MatWriter(endian)
    boundaries = w.matrix(1, (1, 1), '', w.numeric(np.ones((2, 2)), 9, 2,
                                                    'u1'))
    if seg_as_double:  # MATLAB stores small integral doubles as miUINT8
        segmentation = w.numeric(seg, 6, 2, 'u1')
    else:
        segmentation = w.numeric(seg, 9, 2, 'u1')
    present = w.numeric(np.unique(seg)[None], 6, 9, 'f8')
    gtcls = w.struct('GTcls', dict(Boundaries=boundaries,
                                   Segmentation=segmentation,
                                   CategoriesPresent=present))
    other = w.numeric(np.arange(3), 6, 9, 'f8', name='GTinst')
    w.save(path, [other, gtcls], compress)


@pytest.mark.parametrize('endian,compress,as_double',
                         [('<', True, False), ('<', False, True),
                          ('>', True, True)])
def test_mat_reader_gets_sbd_segmentation(tmp_path, endian, compress,
                                          as_double):
    seg = np.random.RandomState(0).randint(0, 21, (5, 7)).astype(np.uint8)
    path = str(tmp_path / 'a.mat')
    write_sbd_mat(path, seg, endian, compress, as_double)
    np.testing.assert_array_equal(prepare_voc.sbd_label(path), seg)
    reader = prepare_voc.MatV5Reader(path)
    np.testing.assert_array_equal(
        reader.struct_field('GTcls', 'CategoriesPresent'),
        np.unique(seg)[None])
    with pytest.raises(KeyError, match='no field'):
        reader.struct_field('GTcls', 'Nope')
    with pytest.raises(KeyError, match="no variable 'GTx'"):
        reader.struct_field('GTx', 'Segmentation')


def test_mat_reader_rejects_other_files(tmp_path):
    (tmp_path / 'v73.mat').write_bytes(
        b'MATLAB 7.3 MAT-file'.ljust(124) + b'\x00\x02IM' + b'\0' * 64)
    with pytest.raises(ValueError, match='v7.3'):
        prepare_voc.MatV5Reader(str(tmp_path / 'v73.mat'))
    (tmp_path / 'junk.mat').write_bytes(b'junk')
    with pytest.raises(ValueError, match='not a MAT file'):
        prepare_voc.MatV5Reader(str(tmp_path / 'junk.mat'))
    seg = np.full((2, 2), 30, np.uint8)
    write_sbd_mat(str(tmp_path / 'bad.mat'), seg)
    with pytest.raises(ValueError, match='outside 0..20'):
        prepare_voc.sbd_label(str(tmp_path / 'bad.mat'))


OBJECTS = {'2007_000001': ['cat'], '2007_000002': ['dog', 'person'],
           '2007_000003': ['car'], '2007_000004': ['bus'],
           '2008_000005': ['sheep', 'cow'], '2008_000006': ['boat']}


def _label(img_id, source):
    """A small label map that tells where it came from."""
    value = VOC_CLASSES.index(OBJECTS[img_id][0])
    label = np.full((3, 4), value, np.uint8)
    label[0, 0] = 255 if source == 'voc' else 0
    return label


@pytest.fixture
def devkit(tmp_path):
    voc = tmp_path / 'VOCdevkit/VOC2012'
    sbd = tmp_path / 'benchmark_RELEASE/dataset'
    for folder in ('JPEGImages', 'Annotations', 'SegmentationClass',
                   'ImageSets/Segmentation'):
        (voc / folder).mkdir(parents=True)
    (sbd / 'cls').mkdir(parents=True)
    for img_id, names in OBJECTS.items():
        (voc / 'Annotations' / f'{img_id}.xml').write_text(
            '<annotation>' + ''.join(f'<object><name>{n}</name></object>'
                                     for n in names) + '</annotation>')
    voc_train, voc_val = ['2007_000001', '2007_000002'], ['2007_000003',
                                                          '2007_000004']
    sbd_train = ['2007_000002', '2008_000005', '2007_000003']
    sbd_val = ['2008_000006', '2007_000004']
    for img_id in voc_train + voc_val:
        img = Image.fromarray(_label(img_id, 'voc'), 'P')
        img.putpalette(np.asarray(label_colormap(), np.uint8).ravel().tolist())
        img.save(voc / 'SegmentationClass' / f'{img_id}.png')
    for img_id in sbd_train + sbd_val:
        write_sbd_mat(str(sbd / 'cls' / f'{img_id}.mat'),
                      _label(img_id, 'sbd'))
    (voc / 'ImageSets/Segmentation/train.txt').write_text('\n'.join(voc_train))
    (voc / 'ImageSets/Segmentation/val.txt').write_text('\n'.join(voc_val))
    (sbd / 'train.txt').write_text('\n'.join(sbd_train))
    (sbd / 'val.txt').write_text('\n'.join(sbd_val))
    return str(voc), str(sbd)


def test_prepare_voc_builds_train_aug(devkit):
    voc, sbd = devkit
    prepare_voc.main([voc, sbd])
    train_aug = read_list_file(
        osp.join(voc, 'ImageSets/Segmentation/train_aug.txt'))
    assert train_aug == ['2007_000001', '2007_000002', '2008_000005',
                         '2008_000006']
    for img_id in OBJECTS:
        png = osp.join(voc, 'SegmentationClassAug', f'{img_id}.png')
        with Image.open(png) as img:
            assert img.mode == 'L'
            source = 'sbd' if img_id.startswith('2008') else 'voc'
            np.testing.assert_array_equal(np.array(img),
                                          _label(img_id, source))
    labels = load_cls_labels(osp.join(voc, 'cls_labels.npy'))
    raw = np.load(osp.join(voc, 'cls_labels.npy'), allow_pickle=True).item()
    assert all(isinstance(k, str) for k in raw)
    assert set(labels) == set(OBJECTS)
    for img_id, names in OBJECTS.items():
        assert labels[img_id].dtype == np.float32
        assert sorted(np.nonzero(labels[img_id])[0]) == sorted(
            VOC_CLASSES.index(n) - 1 for n in names)


def test_prepare_voc_is_rerunnable(devkit):
    voc, sbd = devkit
    prepare_voc.main([voc, sbd, '--nproc', '2'])
    outputs = [osp.join(voc, 'cls_labels.npy'),
               osp.join(voc, 'ImageSets/Segmentation/train_aug.txt')] + [
                   osp.join(voc, 'SegmentationClassAug', f'{i}.png')
                   for i in OBJECTS
               ]
    stamps = {path: os.stat(path).st_mtime_ns for path in outputs}
    removed = osp.join(voc, 'SegmentationClassAug', '2008_000005.png')
    os.remove(removed)
    prepare_voc.main([voc, sbd])
    assert osp.exists(removed)
    for path, stamp in stamps.items():
        if path != removed:
            assert os.stat(path).st_mtime_ns == stamp
    leftovers = [n for n in os.listdir(osp.join(voc, 'SegmentationClassAug'))
                 if n.endswith('.tmp')]
    assert not leftovers


def test_prepare_voc_names_missing_inputs(devkit, tmp_path):
    voc, _ = devkit
    with pytest.raises(FileNotFoundError, match='nowhere/cls'):
        prepare_voc.main([voc, str(tmp_path / 'nowhere')])
