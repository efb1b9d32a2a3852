"""MS-COCO 2014 in the WSSS convention (background + 80 classes)."""
import os.path as osp
from typing import Optional

import numpy as np

from wsstool.fileio import load_label_png
from wsstool.registry import DATASETS
from .label_io import (label_colormap, multi_hot_from_label_map,
                       read_cls_label_file)
from .voc import VOCDataset

COCO_CLASSES = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus',
    'train', 'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')

# COCO category ids of COCO_CLASSES[1:]; ids 12, 26, 29, 30, 45, 66, 68, 69,
# 71 and 83 are unused.
COCO_CATEGORY_IDS = tuple(
    i for i in range(1, 91)
    if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
# COCO category id -> class index 1..80 of COCO_CLASSES
COCO_CATEGORY_TO_LABEL = {
    cat_id: label
    for label, cat_id in enumerate(COCO_CATEGORY_IDS, start=1)
}


def coco_image_id(img_id: str) -> int:
    """Numeric image id of a file stem like ``COCO_train2014_000000000009``."""
    number = img_id.rsplit('_', 1)[-1]
    if not number.isdigit():
        raise ValueError(f'{img_id!r} is not a COCO image file stem like '
                         'COCO_train2014_000000000009')
    return int(number)


@DATASETS.register_module()
class COCODataset(VOCDataset):
    """MS-COCO 2014: images ``<split>/COCO_<split>_%012d.jpg``, GT masks
    ``mask/<split>/<int image id>.png`` (0 = background, 1..80 classes).

    Image ids are file stems (``COCO_train2014_000000000009``); list files
    hold one stem (or one image path) per line.

    Args:
        data_root (str): The COCO folder.
        ann_file (str): List file, e.g. ``ImageSets/train2014.txt`` (written
            by ``tools/prepare_coco.py``).
        data_prefix (dict): ``img_path`` image folder (``train2014``);
            ``seg_map_path`` GT-mask or pseudo-label folder, or None.
        cls_label_file (str, optional): Image-level labels: a dict keyed
            by stem (``cls_labels_train2014.npy``) or by integer image id,
            of float32 (80,) vectors, or an (N, 80) array with one row per
            ``ann_file`` line in its order, thresholded > 0 (BECO's
            ``train_labels.npy``, in image-id order as the list files of
            ``tools/prepare_coco.py``). None derives the labels from the
            label maps in ``data_prefix['seg_map_path']``.
        seg_map_naming (str): ``'image_id'``: label maps are named
            ``<int image id>.png`` (GT masks); ``'stem'``: ``<stem>.png``
            (pseudo labels). Defaults to 'image_id'.
        drop_empty_images (bool): Drop images whose label has no foreground
            class (82,783 -> 82,081 train2014 images). Defaults to False.
        **kwargs: Other :class:`VOCDataset` arguments.
    """

    METAINFO = dict(
        classes=COCO_CLASSES, palette=tuple(label_colormap(len(COCO_CLASSES))))

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: dict = dict(
                     img_path='train2014', seg_map_path=None),
                 cls_label_file: Optional[str] = None,
                 seg_map_naming: str = 'image_id',
                 drop_empty_images: bool = False,
                 **kwargs) -> None:
        if seg_map_naming not in ('image_id', 'stem'):
            raise ValueError(f'seg_map_naming must be "image_id" or "stem", '
                             f'got {seg_map_naming!r}')
        self.seg_map_naming = seg_map_naming
        self.drop_empty_images = drop_empty_images
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            cls_label_file=cls_label_file,
            **kwargs)

    def _seg_map_name(self, img_id: str) -> str:
        if self.seg_map_naming == 'image_id':
            return f'{coco_image_id(img_id)}{self.seg_map_suffix}'
        return img_id + self.seg_map_suffix

    def _load_labels(self, img_ids: list[str]) -> dict[str, np.ndarray]:
        """Labels from ``cls_label_file``, else from the label maps."""
        if self.cls_label_file is not None:
            return self._labels_from_file(img_ids)
        seg_dir = self.data_prefix.get('seg_map_path')
        if seg_dir is None:
            raise ValueError(
                'COCODataset needs cls_label_file or '
                "data_prefix['seg_map_path'] to get image-level labels")
        labels = {}
        for img_id in img_ids:
            path = osp.join(seg_dir, self._seg_map_name(img_id))
            labels[img_id] = multi_hot_from_label_map(
                load_label_png(path), self.num_fg_classes, source=path)
        return labels

    def _labels_from_file(self, img_ids: list[str]) -> dict[str, np.ndarray]:
        """Labels of ``img_ids`` from a dict or array ``cls_label_file``."""
        path, shape = self.cls_label_file, (self.num_fg_classes, )
        content = read_cls_label_file(path)
        if isinstance(content, np.ndarray):
            if content.shape != (len(img_ids), ) + shape:
                raise ValueError(
                    f'{path} holds an array of shape {content.shape}; '
                    f'expected ({len(img_ids)}, {shape[0]}): one row per '
                    f'image of {self.ann_file}, in its order')
            return dict(zip(img_ids, (content > 0).astype(np.float32)))
        if all(isinstance(key, str) for key in content):
            key_of, expected = str, 'image file stem'
        elif all(isinstance(key, (int, np.integer)) for key in content):
            key_of, expected = coco_image_id, 'integer image id'
        else:
            key_types = sorted({type(key).__name__ for key in content})
            raise ValueError(
                f'{path} has keys of types {key_types}; expected a dict '
                'keyed by image file stem or by integer image id')
        labels = {}
        for img_id in img_ids:
            key = key_of(img_id)
            if key not in content:
                raise KeyError(
                    f'image {img_id!r} listed in {self.ann_file} has no '
                    f'label in {path} (a dict keyed by {expected}, looked '
                    f'for {key!r})')
            labels[img_id] = np.asarray(content[key], dtype=np.float32)
            if labels[img_id].shape != shape:
                raise ValueError(
                    f'{path}: label of {key!r} has shape '
                    f'{labels[img_id].shape}; expected {shape}')
        return labels

    def filter_data(self) -> list[dict]:
        """Apply ``drop_empty_images``."""
        if not self.drop_empty_images:
            return self.data_list
        return [info for info in self.data_list if info['gt_label'].any()]
