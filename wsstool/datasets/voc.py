"""PASCAL VOC 2012 in the WSSS convention."""
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.dataset import BaseDataset

from wsstool.registry import DATASETS
from .label_io import (VOC_CLASSES, VOC_PALETTE, load_cls_labels,
                       parse_voc_xml, read_list_file)

DOC_HINT = 'see docs/data_preparation.md'


@DATASETS.register_module()
class VOCDataset(BaseDataset):
    """PASCAL VOC 2012 for classification (image-level labels) and
    segmentation (GT masks or pseudo labels, optional confidence masks).

    Every data info holds ``img_id`` (``'2007_000032'``), ``img_path``,
    ``gt_label`` (float32 (C,) multi-hot over the C = 20 foreground classes;
    absent with ``with_cls_labels=False``),
    ``seg_map_path`` (None without ``data_prefix['seg_map_path']``),
    ``conf_mask_path`` (None without ``conf_mask_dir``) and ``cam_path``
    (None without ``cam_dir``).

    Args:
        data_root (str): The VOC2012 folder (``VOCdevkit/VOC2012``).
        ann_file (str): List file, relative to ``data_root`` unless absolute,
            of bare ids or "image-path mask-path" pairs (the id is the stem
            of the image path), e.g. ``ImageSets/Segmentation/train_aug.txt``.
        data_prefix (dict): ``img_path`` image folder; ``seg_map_path`` label
            folder (``SegmentationClass``, ``SegmentationClassAug`` or a
            pseudo-label folder) or None for classification only.
        cls_label_file (str, optional): ``cls_labels.npy`` (string or integer
            keys). None reads ``Annotations/<id>.xml``.
        with_cls_labels (bool): Read the image-level labels. False for
            images without any annotation, e.g. the VOC test split predicted
            by ``tools/test.py --format-only``. Defaults to True.
        conf_mask_dir (str, optional): Folder of ``<id>.png`` confidence
            masks.
        cam_dir (str, optional): Folder of stage-1 CAM files
            ``<id><cam_suffix>`` (refinement inputs, see
            :class:`LoadCAMFromFile`).
        cam_suffix (str): CAM file suffix: ``'.npz'`` (wsstool) or
            ``'.npy'`` (PSA- or IRN-style dicts). Defaults to '.npz'.
        img_suffix (str): Image file suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Label file suffix. Defaults to '.png'.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.

    Relative ``data_prefix`` folders, ``cls_label_file``, ``conf_mask_dir``
    and ``cam_dir`` are taken relative to ``data_root``. Listed images whose
    label map, confidence mask or CAM file is missing are reported together
    (how many, and the first ones) when the dataset is built.
    """

    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)
    XML_DIR = 'Annotations'

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: dict = dict(
                     img_path='JPEGImages', seg_map_path=None),
                 cls_label_file: Optional[str] = None,
                 with_cls_labels: bool = True,
                 conf_mask_dir: Optional[str] = None,
                 cam_dir: Optional[str] = None,
                 cam_suffix: str = '.npz',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        self.cls_label_file = self._under_root(data_root, cls_label_file)
        self.with_cls_labels = with_cls_labels
        self.conf_mask_dir = self._under_root(data_root, conf_mask_dir)
        self.cam_dir = self._under_root(data_root, cam_dir)
        self.cam_suffix = cam_suffix
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        # BaseDataset only accepts string prefixes
        data_prefix = {k: v for k, v in data_prefix.items() if v is not None}
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            **kwargs)

    @staticmethod
    def _under_root(data_root: str, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path):
            return path
        return osp.join(data_root, path)

    @property
    def num_fg_classes(self) -> int:
        """Length of ``gt_label``: the classes without background."""
        return len(self.metainfo['classes']) - 1

    def load_data_list(self) -> list[dict]:
        """Read the list file and the image-level labels once."""
        for path in (self.data_root, self.data_prefix['img_path']):
            if not osp.isdir(path):
                raise FileNotFoundError(
                    f'{type(self).__name__}: folder {path} does not exist; '
                    f'{DOC_HINT}')
        img_ids = read_list_file(self.ann_file)
        labels = self._load_labels(img_ids) if self.with_cls_labels else None
        seg_dir = self.data_prefix.get('seg_map_path')
        data_list = []
        for img_id in img_ids:
            info = dict(
                img_id=img_id,
                img_path=osp.join(self.data_prefix['img_path'],
                                  img_id + self.img_suffix),
                seg_map_path=None if seg_dir is None else osp.join(
                    seg_dir, self._seg_map_name(img_id)),
                conf_mask_path=None if self.conf_mask_dir is None else
                osp.join(self.conf_mask_dir, img_id + '.png'),
                cam_path=None if self.cam_dir is None else osp.join(
                    self.cam_dir, img_id + self.cam_suffix))
            if labels is not None:
                info['gt_label'] = labels[img_id]
            data_list.append(info)
        folders = dict(
            seg_map_path=seg_dir,
            conf_mask_path=self.conf_mask_dir,
            cam_path=self.cam_dir)
        for key, folder in folders.items():
            self._check_files_exist(data_list, key, folder)
        return data_list

    def _seg_map_name(self, img_id: str) -> str:
        """File name of the label map of ``img_id``."""
        return img_id + self.seg_map_suffix

    def _load_labels(self, img_ids: list[str]) -> dict[str, np.ndarray]:
        """Image-level labels (float32 (C,)) of ``img_ids``, from
        ``cls_label_file`` or else from the XML annotations."""
        if self.cls_label_file is None:
            xml_dir = osp.join(self.data_root, self.XML_DIR)
            fg_classes = self.metainfo['classes'][1:]
            return {
                i: parse_voc_xml(osp.join(xml_dir, f'{i}.xml'), fg_classes)
                for i in img_ids
            }
        return self._labels_from_file(img_ids)

    def _labels_from_file(self, img_ids: list[str]) -> dict[str, np.ndarray]:
        labels = load_cls_labels(self.cls_label_file)
        for img_id in img_ids:
            if img_id not in labels:
                raise KeyError(
                    f'image id {img_id!r} listed in {self.ann_file} has no '
                    f'label in {self.cls_label_file}')
            if labels[img_id].shape != (self.num_fg_classes, ):
                raise ValueError(
                    f'{self.cls_label_file}: label of {img_id!r} has shape '
                    f'{labels[img_id].shape}; expected '
                    f'({self.num_fg_classes},)')
        return labels

    def _check_files_exist(self, data_list: list[dict], key: str,
                           folder: Optional[str]) -> None:
        missing = [
            info[key] for info in data_list
            if info[key] is not None and not osp.isfile(info[key])
        ]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of the {len(data_list)} files for {key} '
                f'of {self.ann_file} are missing from the folder {folder}, '
                f'e.g. {missing[:3]}')
