"""Read and write the label files of the WSSS datasets.

* list files: bare ids (``2007_000032``) or path pairs
  (``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``);
* ``cls_labels.npy``: a pickled dict id -> float32 (C,) multi-hot vector,
  keyed by strings (``'2007_000032'``) or integers (``2007000032``); COCO
  label files may also be plain arrays (see :class:`COCODataset`);
* VOC ``Annotations/<id>.xml`` object names.

Label-map PNGs are read and written by :mod:`wsstool.fileio.label_io`.
"""
import os.path as osp
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

import numpy as np

from wsstool.fileio import atomic_write

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')


def label_colormap(num_colors: int = 256) -> list[tuple[int, int, int]]:
    """The PASCAL VOC bit-interleaving colour map.

    The bits of the label id are spread over the high bits of R, G and B
    (bit 0 -> R, bit 1 -> G, bit 2 -> B, then one bit lower for the next
    three bits), so 1 -> (128, 0, 0) and 255 -> (224, 224, 192).

    Returns:
        list[tuple]: ``num_colors`` RGB triples.
    """
    colors = []
    for label in range(num_colors):
        rgb = [0, 0, 0]
        for shift in range(8):
            for channel in range(3):
                bit = (label >> (3 * shift + channel)) & 1
                rgb[channel] |= bit << (7 - shift)
        colors.append(tuple(rgb))
    return colors


VOC_PALETTE = tuple(label_colormap(len(VOC_CLASSES)))


def read_list_file(path: str) -> list[str]:
    """Read image ids from a list file.

    Each non-empty line is either a bare id or whitespace-separated paths whose
    first token is the image path; the id is that path's file stem.

    Returns:
        list[str]: ids in file order.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'list file {path} does not exist; see docs/data_preparation.md')
    with open(path, encoding='utf-8') as f:
        tokens = [line.split()[0] for line in f if line.strip()]
    if not tokens:
        raise ValueError(f'list file {path} has no entries')
    return [osp.splitext(osp.basename(token))[0] for token in tokens]


def write_list_file(path: str,
                    img_ids: Iterable[str],
                    pairs: bool = False,
                    img_dir: str = 'JPEGImages',
                    seg_map_dir: str = 'SegmentationClassAug',
                    img_suffix: str = '.jpg',
                    seg_map_suffix: str = '.png') -> None:
    """Write ids as bare ids, or as ``/img_dir/<id><img_suffix>
    /seg_map_dir/<id><seg_map_suffix>`` pairs when ``pairs`` is True."""
    if pairs:
        lines = [
            f'/{img_dir}/{i}{img_suffix} /{seg_map_dir}/{i}{seg_map_suffix}'
            for i in img_ids
        ]
    else:
        lines = list(img_ids)
    with atomic_write(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def decode_voc_int_id(key: int) -> str:
    """Turn an integer VOC id (``2007000032``, IRN style) into
    ``'2007_000032'``."""
    digits = str(int(key))
    if len(digits) != 10:
        raise ValueError(f'integer key {key} is not a VOC id of the form '
                         'yyyynnnnnn (e.g. 2007000032)')
    return f'{digits[:4]}_{digits[4:]}'


def read_cls_label_file(path: str) -> Union[dict, np.ndarray]:
    """Content of an image-level label ``.npy`` file, unconverted.

    Returns:
        dict | np.ndarray: the pickled dict of a ``cls_labels.npy``, or the
        numeric array of a file holding one (e.g. (N, C) labels).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image-level label file {path} does not '
                                'exist; see docs/data_preparation.md')
    content = np.load(path, allow_pickle=True)
    if content.dtype != object:
        return content
    if content.shape == () and isinstance(content.item(), dict):
        return content.item()
    raise ValueError(f'{path} holds an object array of shape {content.shape}'
                     '; expected a pickled dict id -> multi-hot vector or a '
                     'numeric array')


def load_cls_labels(path: str) -> dict[str, np.ndarray]:
    """Load a VOC ``cls_labels.npy`` dict with string or integer keys.

    Returns:
        dict[str, np.ndarray]: string id -> float32 (C,) multi-hot label.
    """
    content = read_cls_label_file(path)
    if not isinstance(content, dict):
        raise ValueError(f'{path} holds a {content.dtype} array of shape '
                         f'{content.shape}; expected a pickled dict '
                         'id -> multi-hot vector')
    labels = {}
    for key, value in content.items():
        try:
            img_id = key if isinstance(key, str) else decode_voc_int_id(key)
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from None
        labels[img_id] = np.asarray(value, dtype=np.float32)
    return labels


def save_cls_labels(path: str,
                    labels: Mapping[str, np.ndarray],
                    int_keys: bool = False) -> None:
    """Save ``labels`` (string id -> (C,) vector) as a ``cls_labels.npy``
    dict with float32 values; ``int_keys`` writes IRN-style ``np.int32``
    keys (``2007000032``) instead of strings."""
    content = {(np.int32(key.replace('_', '')) if int_keys else key):
               np.asarray(value, dtype=np.float32)
               for key, value in labels.items()}
    with atomic_write(path, 'wb') as f:
        np.save(f, content, allow_pickle=True)


def parse_voc_xml(path: str, class_names: Sequence[str]) -> np.ndarray:
    """Multi-hot label from the ``<object><name>`` tags of a VOC XML file.

    Args:
        path (str): ``Annotations/<id>.xml``.
        class_names (Sequence[str]): the foreground class names; index 0 of
            the result is ``class_names[0]``.

    Returns:
        np.ndarray: float32 (len(class_names),).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file {path} does not exist')
    label = np.zeros(len(class_names), dtype=np.float32)
    for obj in ET.parse(path).getroot().iter('object'):
        name = obj.findtext('name', default='').strip()
        if name not in class_names:
            raise ValueError(f'{path}: unknown object name {name!r}; '
                             f'expected one of {list(class_names)}')
        label[class_names.index(name)] = 1
    return label


def multi_hot_from_label_map(label_map: np.ndarray,
                             num_fg_classes: int,
                             source: str = 'label map') -> np.ndarray:
    """float32 (num_fg_classes,) multi-hot of the classes 1..C present in a
    (H, W) label map; 0 (background) and 255 (ignore) are skipped."""
    values = np.unique(label_map)
    values = values[(values != 0) & (values != 255)]
    if values.size and values.max() > num_fg_classes:
        raise ValueError(f'{source} holds class id {values.max()}; expected '
                         f'0..{num_fg_classes} or 255')
    label = np.zeros(num_fg_classes, dtype=np.float32)
    label[values.astype(np.int64) - 1] = 1
    return label
