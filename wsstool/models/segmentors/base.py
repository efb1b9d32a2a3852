"""Base of the segmentation networks trained on pseudo labels (stage 3):
target stacking, test-time augmentation and CRF post-processing."""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import PixelData
from torch import Tensor, nn

from wsstool.registry import REFINERS
from wsstool.structures import WSSSDataSample
from ..utils.cam_ops import cam_to_original, rescale_images
from ..utils.cfg_defaults import is_number, merge_cfg_defaults
from ..utils.crf_image import CRF_IMAGE_MODES, read_crf_image
from ..utils.dense_targets import stack_dense_field
from ..wsss_model import WSSSModel
from .tta import FUSION_MODES, resize_bilinear, tta_logits

FUSE_AT_MODES = ('input', 'head')
_TEST_CFG_DEFAULTS = dict(
    scales=(1.0, ),
    flip=False,
    fusion='mean',
    fuse_at='input',
    resize_to=None,
    crf=None,
    crf_image='raw')


def parse_seg_test_cfg(test_cfg: Optional[dict], owner: str) -> dict:
    """Merge a segmentor's ``test_cfg`` into the defaults and validate it.

    Args:
        test_cfg (dict, optional): Given options (see
            :class:`BaseSegmentor`).
        owner (str): The segmentor's name, used in errors.

    Raises:
        ValueError: Naming the key and the bad value (unknown keys list the
            allowed ones).
    """
    cfg = merge_cfg_defaults(test_cfg, _TEST_CFG_DEFAULTS, f'{owner} test_cfg')
    scales = cfg['scales']
    if not (isinstance(scales, (list, tuple)) and scales
            and all(is_number(s) and s > 0 for s in scales)):
        raise ValueError(f'{owner} test_cfg.scales must be a non-empty '
                         f'list/tuple of positive factors, got {scales!r}.')
    if not isinstance(cfg['flip'], bool):
        raise ValueError(f'{owner} test_cfg.flip must be True or False, got '
                         f'{cfg["flip"]!r}.')
    for key, choices in (('fusion', FUSION_MODES),
                         ('fuse_at', FUSE_AT_MODES),
                         ('crf_image', CRF_IMAGE_MODES)):
        if cfg[key] not in choices:
            raise ValueError(f'{owner} test_cfg.{key}={cfg[key]!r}; '
                             f'expected one of {choices}.')
    if cfg['fuse_at'] == 'head' and 1.0 not in scales:
        raise ValueError(
            f"{owner} test_cfg.fuse_at='head' fuses on the head grid of the "
            f'unscaled image, so scales {tuple(scales)} must include 1.0.')
    resize_to = cfg['resize_to']
    if resize_to is not None and not (
            isinstance(resize_to, (list, tuple)) and len(resize_to) == 2
            and all(isinstance(side, int) and not isinstance(side, bool)
                    and side > 0 for side in resize_to)):
        raise ValueError(f'{owner} test_cfg.resize_to must be None or (h, w) '
                         f'positive integers, got {resize_to!r}.')
    if cfg['crf'] is not None and not isinstance(cfg['crf'], dict):
        raise ValueError(f'{owner} test_cfg.crf must be None or a refiner '
                         f"config such as dict(type='DenseCRF', "
                         f"preset='deeplab_beco'), got {cfg['crf']!r}.")
    return cfg


class BaseSegmentor(WSSSModel):
    """A network that predicts a class for every pixel.

    Modes of :meth:`forward`: ``'loss'`` (:meth:`loss`), ``'tensor'``
    (:meth:`seg_logits`) and ``'predict'`` (:meth:`predict`).

    Subclasses implement :meth:`loss` and :meth:`head_logits` (the decode
    head's logits on its own grid; :meth:`seg_logits` upsamples them to the
    input size) and provide ``num_classes`` K (background included), as a
    property or an attribute. Label maps hold ids in [0, K) and
    ``ignore_index`` (255) on unlabelled pixels.

    Prediction (:meth:`predict`) follows ``test_cfg``:

    1. Each image is cropped to its ``img_shape``: the batch padding never
       reaches the network, so a prediction does not depend on the other
       images of its batch. With ``resize_to`` (h, w) each crop is resized
       bilinearly to (h, w) — BECO's aspect-distorting 512 x 512 test
       resize, a faithfulness option. Crops of one size run as one batch.
    2. :func:`tta_logits` runs the crops rescaled by each of ``scales``
       (and h-flipped with ``flip``) and fuses the logits by ``fusion`` on
       the grid chosen by ``fuse_at``: ``'input'`` fuses :meth:`seg_logits`
       at the size of the crop; ``'head'`` fuses :meth:`head_logits`
       resized to the head grid of the unscaled crop (BECO/KTSE/SSC's
       multi-scale test, e.g. 64 x 64 for a DeepLabV2 at 512 x 512).
    3. The fused logits, which cover the image's ``img_shape`` area, are
       un-flipped (a pipeline flip) and resized bilinearly once to
       ``ori_shape``: ``seg_logits``. So with ``'head'`` the head-grid
       logits are resized once, straight to the original size, and with
       ``resize_to`` the (h, w) logits go straight to ``ori_shape``.
    4. ``pred_sem_seg`` is their arg-max, or with ``crf`` the arg-max of the
       CRF marginals of their softmax, computed on the CPU on the image read
       from ``img_path`` (``crf_image``).

    Args:
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        test_cfg (dict, optional): Prediction options (defaults in
            brackets):

            * ``scales`` (``(1.0,)``): rescaling factors of the test-time
              augmentation; sizes round as ``round(side * s)`` (halves to
              even, :func:`~wsstool.models.utils.cam_ops.scaled_size`).
            * ``flip`` (False): also run the horizontally flipped images.
            * ``fusion`` (``'mean'``): ``'mean'`` or ``'max'`` of the
              augmented logits (BECO/KTSE/SSC multi-scale test: ``'max'``,
              no flip).
            * ``fuse_at`` (``'input'``): fuse at the input size
              (``'input'``) or on the head grid of the unscaled input
              (``'head'``, BECO/KTSE/SSC; needs 1.0 among ``scales``).
            * ``resize_to`` (None): (h, w) size every image is resized to
              before inference (BECO: (512, 512)).
            * ``crf`` (None): a dense CRF with a probability unary, built
              from ``REFINERS``, e.g. ``dict(type='DenseCRF',
              preset='deeplab_beco')``.
            * ``crf_image`` (``'raw'``): the CRF image, ``'raw'`` (the RGB
              image as read) or ``'mean_sub_uint8_wrap'`` (the
              mean-subtracted, uint8-wrapped image of BECO's ``test.py``; a
              faithfulness option, see
              :func:`~wsstool.models.utils.crf_image.mean_sub_uint8_wrap`).
        init_cfg (dict, optional): mmengine init config.
    """

    ignore_index: int = 255

    def __init__(self,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        name = type(self).__name__
        test_cfg = parse_seg_test_cfg(test_cfg, name)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = test_cfg
        self.crf = None
        if test_cfg['crf'] is not None:
            self.crf = REFINERS.build(test_cfg['crf'])
            if getattr(self.crf, 'params', {}).get('unary') != 'prob':
                raise ValueError(
                    f'{name} test_cfg.crf needs a dense CRF with a '
                    'probability unary (e.g. preset "deeplab_beco"), got '
                    f'{self.crf!r}.')

    @abstractmethod
    def head_logits(self, inputs: Tensor) -> Tensor:
        """(B, K, h, w) logits (before softmax) of (B, 3, H, W) images on
        the decode head's output grid."""

    def seg_logits(self, inputs: Tensor) -> Tensor:
        """(B, K, H, W) logits (before softmax) of (B, 3, H, W) images at
        the input size: :meth:`head_logits` upsampled bilinearly
        (``align_corners=False``)."""
        return resize_bilinear(self.head_logits(inputs), inputs.shape[-2:])

    def _forward(self, inputs: Tensor) -> Tensor:
        """``'tensor'`` mode: :meth:`seg_logits`."""
        return self.seg_logits(inputs)

    def _checked_ignore_index(self, ignore_index: int) -> int:
        """``ignore_index`` if it is an int >= K (ClassMix and the losses
        index classes by label value, so a class id or a negative value
        cannot mark unlabelled pixels); raise a ValueError otherwise."""
        if (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)
                or ignore_index < self.num_classes):
            raise ValueError(
                f'{type(self).__name__} ignore_index={ignore_index!r}; '
                f'expected an int >= num_classes ({self.num_classes}), '
                'outside the class ids (e.g. 255).')
        return ignore_index

    def seg_targets(self, data_samples: Optional[Sequence[WSSSDataSample]],
                    device: Union[str, torch.device]
                    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Stack the samples' label maps (and confidence masks) on
        ``device``.

        Args:
            data_samples (Sequence[WSSSDataSample]): Samples with
                ``gt_sem_seg`` (1, H, W) and optionally ``conf_mask``
                (1, H, W), all of the same size (the data preprocessor pads
                training batches).
            device (str or torch.device): Device of the returned tensors.

        Returns:
            tuple[Tensor, Tensor | None]: labels (B, H, W) int64 and, when
            every sample has one, confidence masks (B, H, W) bool (True =
            confident), else None.

        Raises:
            ValueError: If a sample has no ``gt_sem_seg``, sizes differ, or
                a label lies outside [0, K) and is not ``ignore_index``
                (naming the sample's ``img_path`` and the values).
        """
        name = type(self).__name__
        labels = stack_dense_field(data_samples, 'gt_sem_seg', name,
                                   'label map')
        labels = labels.to(device=device, dtype=torch.int64)
        self._check_label_values(labels, data_samples)
        if not all('conf_mask' in sample for sample in data_samples):
            return labels, None
        conf = stack_dense_field(data_samples, 'conf_mask', name,
                                 'confidence mask')
        if conf.shape != labels.shape:
            raise ValueError(
                f'{name} loss: conf_mask maps {tuple(conf.shape[1:])} do not '
                f'match the label maps {tuple(labels.shape[1:])}.')
        return labels, conf.to(device=device, dtype=torch.bool)

    def _check_label_values(self, labels: Tensor,
                            data_samples: Sequence[WSSSDataSample]) -> None:
        """Raise if a (B, H, W) label lies outside [0, K) and is not
        ``ignore_index``, naming the first such sample and its values."""
        bad = (labels != self.ignore_index) & ((labels < 0) |
                                               (labels >= self.num_classes))
        if not bad.any():
            return
        index = int(bad.flatten(1).any(dim=1).nonzero()[0])
        values = torch.unique(labels[index][bad[index]]).tolist()
        img_path = data_samples[index].metainfo.get('img_path')
        raise ValueError(
            f'{type(self).__name__}: the label map of {img_path!r} holds '
            f'values {values[:8]} outside [0, {self.num_classes}) that are '
            f'not the ignore index {self.ignore_index}; expected class ids '
            f'of a {self.num_classes}-class model.')

    def tta_seg_logits(self, inputs: Tensor) -> Tensor:
        """Logits of (B, 3, H, W) unpadded images fused over the
        ``test_cfg`` scales and flips (:func:`tta_logits`).

        Returns:
            Tensor: (B, K, H, W) float32 with ``fuse_at='input'``; (B, K, h,
            w) on the head grid of the unscaled images with ``'head'``.
        """
        cfg = self.test_cfg
        if cfg['fuse_at'] == 'head':
            return tta_logits(self.head_logits, inputs, cfg['scales'],
                              cfg['flip'], cfg['fusion'])
        return tta_logits(self.seg_logits, inputs, cfg['scales'],
                          cfg['flip'], cfg['fusion'], size=inputs.shape[-2:])

    def _fused_logits(self, inputs: Tensor,
                      data_samples: Sequence[WSSSDataSample]
                      ) -> List[Tensor]:
        """Fused logits (K, h_i, w_i) of each image, covering its
        ``img_shape`` area on their own grid (steps 1-2 of the class
        docstring)."""
        shapes = [tuple(s.metainfo['img_shape'][:2]) for s in data_samples]
        images = [
            image[:, :height, :width]
            for image, (height, width) in zip(inputs, shapes)
        ]
        resize_to = self.test_cfg['resize_to']
        if resize_to is not None:
            images = [
                rescale_images(image[None], resize_to, 'bilinear')[0]
                for image in images
            ]
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(tuple(image.shape), []).append(index)
        logits: List[Optional[Tensor]] = [None] * len(images)
        for indices in groups.values():
            fused = self.tta_seg_logits(
                torch.stack([images[index] for index in indices]))
            for index, logit in zip(indices, fused):
                logits[index] = logit
        return logits

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[WSSSDataSample]] = None
                ) -> List[WSSSDataSample]:
        """Predict each image's logits and label map at its original size.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images, padded at the
                bottom/right to a common size.
            data_samples (Sequence[WSSSDataSample], optional): With
                ``img_shape``/``ori_shape`` (and ``img_path`` for the CRF).
                Without them every image is taken as unpadded and not
                resized.

        Returns:
            list[WSSSDataSample]: The samples with ``seg_logits``
            (PixelData, (K, H0, W0) float32 fused logits before softmax) and
            ``pred_sem_seg`` (PixelData, (1, H0, W0) int64), (H0, W0) =
            ``ori_shape``.
        """
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [
                WSSSDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
                for _ in range(inputs.shape[0])
            ]
        logits = self._fused_logits(inputs, data_samples)
        for logit, sample in zip(logits, data_samples):
            # the logits span the img_shape area on their own grid: nothing
            # to crop, one resize to ori_shape
            grid = dict(sample.metainfo, img_shape=tuple(logit.shape[-2:]))
            logit = cam_to_original(logit, grid).float()
            sample.seg_logits = PixelData(data=logit)
            sample.pred_sem_seg = PixelData(
                data=self._predict_label(logit, sample)[None])
        return list(data_samples)

    def _predict_label(self, logit: Tensor,
                       data_sample: WSSSDataSample) -> Tensor:
        """(H0, W0) int64 arg-max of (K, H0, W0) logits, after the CRF of
        ``test_cfg.crf`` when one is set."""
        if self.crf is None:
            return logit.argmax(dim=0)
        name = type(self).__name__
        image = read_crf_image(data_sample, self.test_cfg['crf_image'],
                               f'{name} test_cfg.crf')
        if tuple(image.shape[:2]) != tuple(logit.shape[1:]):
            raise ValueError(
                f'{name} CRF: the image {data_sample.img_path!r} is '
                f'{tuple(image.shape[:2])} but its ori_shape is '
                f'{tuple(logit.shape[1:])}; expected the original image.')
        probs = logit.softmax(dim=0).cpu().numpy()
        marginals = self.crf(image, probs)
        return torch.from_numpy(marginals.argmax(axis=0)).to(
            device=logit.device, dtype=torch.int64)
