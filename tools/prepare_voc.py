"""Build the WSSS files of PASCAL VOC 2012 from the devkit and SBD.

    python tools/prepare_voc.py VOC_ROOT SBD_ROOT [--nproc N]

VOC_ROOT is ``VOCdevkit/VOC2012``; SBD_ROOT is ``benchmark_RELEASE/dataset``
(with ``cls/*.mat``, ``train.txt`` and ``val.txt``). Written into VOC_ROOT:

* ``ImageSets/Segmentation/train_aug.txt``: (VOC train | SBD train | SBD val)
  - VOC val, 10,582 ids;
* ``SegmentationClassAug/<id>.png`` for train_aug and val (12,031 grey PNGs):
  VOC ``SegmentationClass`` where it exists, else SBD ``GTcls.Segmentation``;
* ``cls_labels.npy``: train_aug + val image-level labels from the XML files,
  string keys, float32 (20,).

Every file is written atomically and existing outputs are kept, so an
interrupted run can simply be restarted. See docs/data_preparation.md.
"""
import argparse
import os.path as osp
import struct
import zlib
from functools import partial

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from wsstool.datasets.label_io import (VOC_CLASSES, parse_voc_xml,
                                       read_list_file, save_cls_labels,
                                       write_list_file)
from wsstool.fileio import load_label_png, save_label_png

# MAT-file v5 element types and array classes
MI_MATRIX, MI_COMPRESSED = 14, 15
MI_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4',
             9: 'f8', 12: 'i8', 13: 'u8'}
MX_STRUCT, MX_NUMERIC, MX_COMPLEX_FLAG = 2, range(6, 16), 0x800


class MatV5Reader:
    """Minimal reader of MATLAB v5 (and v7, compressed) MAT files: enough to
    get a numeric field of a struct variable, such as SBD's
    ``GTcls.Segmentation``."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, 'rb') as f:
            data = f.read()
        if len(data) < 128 or data[126:128] not in (b'IM', b'MI'):
            raise ValueError(f'{path} is not a MAT file')
        self.endian = '<' if data[126:128] == b'IM' else '>'
        version, = struct.unpack_from(self.endian + 'H', data, 124)
        if version != 0x0100:
            raise ValueError(f'{path} is a MAT file of version {version:#x}; '
                             'only v5/v7 (0x0100) files are supported, not '
                             'v7.3 (HDF5)')
        self.data = data

    def _element(self, buf: bytes, pos: int) -> tuple[int, bytes, int]:
        """(type, payload, next position) of the data element at ``pos``."""
        word, = struct.unpack_from(self.endian + 'I', buf, pos)
        if word >> 16:  # small element: 2-byte size, 2-byte type, 4 bytes
            return word & 0xFFFF, buf[pos + 4:pos + 4 + (word >> 16)], pos + 8
        nbytes, = struct.unpack_from(self.endian + 'I', buf, pos + 4)
        payload = buf[pos + 8:pos + 8 + nbytes]
        if word == MI_COMPRESSED:  # compressed elements are not padded
            return word, payload, pos + 8 + nbytes
        return word, payload, pos + 8 + (nbytes + 7) // 8 * 8

    def _matrix_header(self, payload: bytes) -> tuple[int, tuple, str, int]:
        """(class, dims, name, position after the header) of a miMATRIX;
        the class of a complex array is reported as -1."""
        _, flags, pos = self._element(payload, 0)
        _, dims, pos = self._element(payload, pos)
        _, name, pos = self._element(payload, pos)
        flags = struct.unpack_from(self.endian + 'I', flags)[0]
        mx_class = -1 if flags & MX_COMPLEX_FLAG else flags & 0xFF
        dims = tuple(np.frombuffer(dims, self.endian + 'i4'))
        return mx_class, dims, name.decode('latin-1'), pos

    def variable(self, name: str) -> bytes:
        """Payload of the top-level miMATRIX variable ``name``."""
        pos = 128
        while pos < len(self.data):
            elem_type, payload, pos = self._element(self.data, pos)
            if elem_type == MI_COMPRESSED:
                elem_type, payload, _ = self._element(
                    zlib.decompress(payload), 0)
            if elem_type == MI_MATRIX and payload and \
                    self._matrix_header(payload)[2] == name:
                return payload
        raise KeyError(f'{self.path} has no variable {name!r}')

    def struct_field(self, var_name: str, field: str) -> np.ndarray:
        """Numeric field ``field`` of the 1x1 struct variable ``var_name``."""
        payload = self.variable(var_name)
        mx_class, dims, _, pos = self._matrix_header(payload)
        if mx_class != MX_STRUCT or int(np.prod(dims)) != 1:
            raise ValueError(f'{self.path}: {var_name} is not a 1x1 struct')
        _, name_len, pos = self._element(payload, pos)
        _, names, pos = self._element(payload, pos)
        name_len = struct.unpack(self.endian + 'i', name_len)[0]
        fields = [
            names[i:i + name_len].split(b'\0')[0].decode('latin-1')
            for i in range(0, len(names), name_len)
        ]
        for field_name in fields:
            _, value, pos = self._element(payload, pos)
            if field_name == field:
                return self._numeric(value, f'{var_name}.{field}')
        raise KeyError(f'{self.path}: {var_name} has no field {field!r}; '
                       f'fields: {fields}')

    def _numeric(self, payload: bytes, what: str) -> np.ndarray:
        mx_class, dims, _, pos = self._matrix_header(payload)
        if mx_class not in MX_NUMERIC:
            raise ValueError(
                f'{self.path}: {what} is not a real numeric array')
        elem_type, values, _ = self._element(payload, pos)
        array = np.frombuffer(values, self.endian + MI_DTYPES[elem_type])
        return array.reshape(dims, order='F')


def sbd_label(mat_path: str) -> np.ndarray:
    """uint8 (H, W) class map of an SBD ``cls/<id>.mat`` file."""
    seg = MatV5Reader(mat_path).struct_field('GTcls', 'Segmentation')
    if seg.size and (seg.min() < 0 or seg.max() >= len(VOC_CLASSES)):
        raise ValueError(f'{mat_path}: GTcls.Segmentation has values '
                         f'outside 0..{len(VOC_CLASSES) - 1}')
    return seg.astype(np.uint8)


def write_aug_label(img_id: str, voc_root: str, sbd_root: str) -> None:
    """Write ``SegmentationClassAug/<id>.png`` unless it exists."""
    out = osp.join(voc_root, 'SegmentationClassAug', f'{img_id}.png')
    if osp.exists(out):
        return
    voc_png = osp.join(voc_root, 'SegmentationClass', f'{img_id}.png')
    if osp.exists(voc_png):
        label = load_label_png(voc_png)
    else:
        label = sbd_label(osp.join(sbd_root, 'cls', f'{img_id}.mat'))
    save_label_png(out, label)


def train_aug_ids(voc_root: str, sbd_root: str) -> tuple[list, list]:
    """Sorted ids of train_aug = (VOC train | SBD train | SBD val) - VOC val,
    and of VOC val."""
    voc_sets = osp.join(voc_root, 'ImageSets', 'Segmentation')
    val = read_list_file(osp.join(voc_sets, 'val.txt'))
    train_aug = (set(read_list_file(osp.join(voc_sets, 'train.txt')))
                 | set(read_list_file(osp.join(sbd_root, 'train.txt')))
                 | set(read_list_file(osp.join(sbd_root, 'val.txt'))))
    return sorted(train_aug - set(val)), sorted(val)


def check_inputs(voc_root: str, sbd_root: str) -> None:
    needed = [
        osp.join(voc_root, name)
        for name in ('JPEGImages', 'Annotations', 'SegmentationClass',
                     'ImageSets/Segmentation/train.txt',
                     'ImageSets/Segmentation/val.txt')
    ] + [osp.join(sbd_root, name) for name in ('cls', 'train.txt', 'val.txt')]
    missing = [path for path in needed if not osp.exists(path)]
    if missing:
        raise FileNotFoundError(
            f'missing VOC 2012 devkit / SBD files: {missing}; see '
            'docs/data_preparation.md')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Build train_aug.txt, SegmentationClassAug and '
        'cls_labels.npy for PASCAL VOC 2012')
    parser.add_argument('voc_root', help='VOCdevkit/VOC2012')
    parser.add_argument('sbd_root', help='benchmark_RELEASE/dataset')
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes for the label conversion')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    check_inputs(args.voc_root, args.sbd_root)
    train_aug, val = train_aug_ids(args.voc_root, args.sbd_root)
    list_path = osp.join(args.voc_root, 'ImageSets', 'Segmentation',
                         'train_aug.txt')
    if not osp.exists(list_path):
        write_list_file(list_path, train_aug)
    print(f'train_aug: {len(train_aug)} images, val: {len(val)} images')

    convert = partial(
        write_aug_label, voc_root=args.voc_root, sbd_root=args.sbd_root)
    ids = train_aug + val
    if args.nproc > 1:
        track_parallel_progress(convert, ids, args.nproc)
    else:
        track_progress(convert, ids)

    label_path = osp.join(args.voc_root, 'cls_labels.npy')
    if not osp.exists(label_path):
        xml_dir = osp.join(args.voc_root, 'Annotations')
        save_cls_labels(label_path, {
            i: parse_voc_xml(osp.join(xml_dir, f'{i}.xml'), VOC_CLASSES[1:])
            for i in ids
        })
    print(f'done: {list_path}, SegmentationClassAug/, {label_path}')


if __name__ == '__main__':
    main()
