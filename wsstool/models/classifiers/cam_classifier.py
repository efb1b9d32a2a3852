"""Image-level classifier that predicts class activation maps."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..utils import (CAM_NORMS, CAM_RELU_MODES, RESIZE_MODES,
                     cam_to_original, multi_scale_flip_cams, normalize_cam)
from ..utils.cfg_defaults import is_number, merge_cfg_defaults
from ..utils.unprefixed_keys import register_key_mapping_hook
from ..wsss_model import WSSSModel

_TEST_CFG_DEFAULTS = dict(
    scales=(1.0, ),
    flip=False,
    norm='max',
    classes='gt',
    score_thr=0.5,
    upsample_stride=None,
    cam_relu='before_upsample',
    resize_mode='bilinear')


def _parse_test_cfg(test_cfg: Optional[dict]) -> dict:
    """Merge ``test_cfg`` into the defaults and validate it."""
    cfg = merge_cfg_defaults(test_cfg, _TEST_CFG_DEFAULTS,
                             'CAMClassifier test_cfg')
    scales = cfg['scales']
    if not (isinstance(scales, (list, tuple)) and scales and all(
            is_number(s) and s > 0 for s in scales)):
        raise ValueError('CAMClassifier test_cfg.scales must be a non-empty '
                         f'list/tuple of positive factors, got {scales!r}.')
    if not isinstance(cfg['flip'], bool):
        raise ValueError('CAMClassifier test_cfg.flip must be True or False, '
                         f'got {cfg["flip"]!r}.')
    if not is_number(cfg['score_thr']):
        raise ValueError('CAMClassifier test_cfg.score_thr must be a number, '
                         f'got {cfg["score_thr"]!r}.')
    stride = cfg['upsample_stride']
    if stride is not None and not (isinstance(stride, int)
                                   and not isinstance(stride, bool)
                                   and stride > 0):
        raise ValueError('CAMClassifier test_cfg.upsample_stride must be None '
                         f'or a positive integer, got {stride!r}.')
    if cfg['norm'] not in CAM_NORMS:
        raise ValueError(f'CAMClassifier test_cfg.norm={cfg["norm"]!r}; '
                         f'expected one of {CAM_NORMS}.')
    for key, choices in (('cam_relu', CAM_RELU_MODES),
                         ('resize_mode', RESIZE_MODES)):
        if cfg[key] not in choices:
            raise ValueError(f'CAMClassifier test_cfg.{key}={cfg[key]!r}; '
                             f'expected one of {choices}.')
    if cfg['classes'] not in ('gt', 'pred'):
        raise ValueError(f'CAMClassifier test_cfg.classes='
                         f"{cfg['classes']!r}; expected 'gt' or 'pred'.")
    return cfg


@MODELS.register_module()
class CAMClassifier(WSSSModel):
    """Backbone + CAM head trained for multi-label classification.

    Modes of :meth:`forward`:

    * ``'loss'``: classification loss against the stacked ``gt_label`` of
      the data samples.
    * ``'tensor'``: class logits (B, C).
    * ``'predict'``: per image ``pred_cam = BaseDataElement(cam=(K, H, W)
      float32, class_ids=(K,) int64)`` at ``ori_shape`` and ``pred_score`` (C,)
      sigmoid scores.

    Prediction, for the whole batch at once per scale (``test_cfg``):
    the padded batch is rescaled by each of ``scales`` (``resize_mode``
    ``'bilinear'``, or ``'bicubic'``: antialiased like the PIL bicubic
    resizing of IRN/PSA/AEFT/KTSE), run together with its h-flip when
    ``flip``; the head's raw class maps are rectified before or after
    upsampling (``cam_relu``: ``'before_upsample'`` as IRN/PSA,
    ``'after_upsample'`` as AEFT/KTSE), the flipped CAMs are un-flipped,
    every CAM is upsampled to the batch size (with ``upsample_stride`` s: to
    the size rounded up to a multiple of s, then cropped, as IRN does with
    s = 16) and summed; then, per image,
    the batch padding is cropped (``img_shape``), a pipeline flip undone, the
    map resized to ``ori_shape``, the classes selected and each class map
    normalised with ``norm`` (``'max'``, ``'minmax_train'``,
    ``'minmax_infer'``, see :mod:`wsstool.models.utils.cam_ops`).
    ``classes='gt'`` keeps the classes of the image-level label (values
    > 0.5); ``'pred'`` keeps classes whose sigmoid score (of the logits
    averaged over all passes) exceeds ``score_thr``, for unlabelled images.

    Checkpoints of the reference implementations, whose keys carry no
    ``backbone.``/``head.`` prefix (e.g. KTSE's ``039net_main.pth``), load
    directly: their keys are mapped to this model's names on loading.

    Args:
        backbone (dict): Backbone config, returns a tuple of feature maps.
        head (dict): :class:`CAMHead`-like config with ``forward``, ``cam``
            and ``loss``.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        train_cfg (dict, optional): Training options of subclasses.
        test_cfg (dict, optional): ``scales``, ``flip``, ``norm``,
            ``classes``, ``score_thr``, ``upsample_stride``, ``cam_relu``,
            ``resize_mode`` (defaults ``(1.0,)``, False, ``'max'``,
            ``'gt'``, 0.5, None, ``'before_upsample'``, ``'bilinear'``).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.train_cfg = train_cfg
        self.test_cfg = _parse_test_cfg(test_cfg)
        register_key_mapping_hook(self)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone features of (B, 3, H, W) images."""
        return self.backbone(inputs)

    def _forward(self, inputs: Tensor) -> Tensor:
        """``'tensor'`` mode: (B, C) class logits of (B, 3, H, W)
        images."""
        return self.head.cam_and_logits(self.extract_feat(inputs))[1]

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """Classification losses for (B, 3, H, W) images and their
        ``gt_label`` (C,) each."""
        return self.head.loss(
            self.extract_feat(inputs), self._stack_labels(data_samples))

    @staticmethod
    def _stack_labels(data_samples: Optional[List[WSSSDataSample]]) -> Tensor:
        """(B, C) float labels of the samples."""
        if not data_samples:
            raise ValueError('CAMClassifier loss needs data_samples with '
                             'gt_label.')
        for sample in data_samples:
            if 'gt_label' not in sample:
                raise ValueError(
                    'CAMClassifier loss: a data sample has no gt_label '
                    f'(img_path {sample.metainfo.get("img_path")!r}).')
        return torch.stack(
            [torch.as_tensor(s.gt_label).float() for s in data_samples])

    def _cam_and_logits(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Raw class maps (N, C, h, w) and logits (N, C) from one backbone
        pass."""
        return self.head.cam_and_logits(self.extract_feat(inputs))

    def multi_scale_cams(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """CAMs (B, C, H, W) summed over the ``test_cfg`` scales and flips
        of the (B, 3, H, W) batch, and logits (B, C) averaged over them
        (:func:`multi_scale_flip_cams`)."""
        cfg = self.test_cfg
        return multi_scale_flip_cams(self._cam_and_logits, inputs,
                                     cfg['scales'], cfg['flip'],
                                     cfg['upsample_stride'], cfg['cam_relu'],
                                     cfg['resize_mode'])

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[WSSSDataSample]] = None
                ) -> List[WSSSDataSample]:
        """Predict normalised CAMs at each image's ``ori_shape``.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised, padded images.
            data_samples (list[WSSSDataSample], optional): With
                ``img_shape``/``ori_shape`` meta information (and
                ``gt_label`` for ``classes='gt'``). Without them every image
                is taken as unpadded and not resized.

        Returns:
            list[WSSSDataSample]: The samples with ``pred_cam`` and
            ``pred_score`` set.
        """
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [
                WSSSDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
                for _ in range(inputs.shape[0])
            ]
        cams, logits = self.multi_scale_cams(inputs)
        scores = logits.sigmoid()
        for cam, score, sample in zip(cams, scores, data_samples):
            keys = self._select_classes(sample, score)
            cam = cam_to_original(cam[keys], sample.metainfo)
            cam = normalize_cam(cam, self.test_cfg['norm']).float()
            sample.pred_cam = BaseDataElement(cam=cam, class_ids=keys)
            sample.pred_score = score
        return list(data_samples)

    def _select_classes(self, sample: WSSSDataSample, score: Tensor) -> Tensor:
        """(K,) int64 indices of the classes whose CAMs are kept."""
        if self.test_cfg['classes'] == 'pred':
            return torch.nonzero(score > self.test_cfg['score_thr'])[:, 0]
        if 'gt_label' not in sample:
            raise ValueError(
                "CAMClassifier test_cfg.classes='gt' needs gt_label on every "
                f'sample (img_path {sample.metainfo.get("img_path")!r} has '
                "none); use classes='pred' for unlabelled images.")
        label = torch.as_tensor(sample.gt_label, device=score.device)
        return torch.nonzero(label > 0.5)[:, 0]
