"""Image-level classifier that predicts class activation maps."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import ModuleList
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..utils import (CAM_NORMS, CAM_RELU_MODES, RESIZE_MODES,
                     cam_to_original, multi_scale_flip_cams, normalize_cam)
from ..utils.cfg_defaults import is_number, merge_cfg_defaults
from ..utils.contrast_view import ContrastView
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

    Auxiliary losses (``aux_losses``, e.g. ``PixelPrototypeContrast``) add
    terms to the method's own: each is a module called as
    ``aux(model, inputs, labels, views)`` that returns named losses and may
    own parameters (they are initialised and trained with the model).
    ``views`` is a pair (view 1 of ``inputs``, view 2 of a second, smaller
    view of the batch) of :class:`ContrastView`; a ``None`` entry is computed
    by the loss with :meth:`contrast_view`. Every method's ``loss`` passes
    the views it already has to :meth:`add_aux_losses` (the CAM baseline,
    AEFT, KTSE and SSC view 1 from their own forward pass, SEAM both of its
    views), so the same config line attaches the loss to any of them. A
    term whose name is already taken, by the method or by another auxiliary
    loss, is an error.

    Checkpoints of the reference implementations, whose keys carry no
    ``backbone.``/``head.`` prefix (e.g. KTSE's ``039net_main.pth``), load
    directly: their keys are mapped to this model's names on loading.

    Args:
        backbone (dict): Backbone config, returns a tuple of feature maps.
        head (dict): :class:`CAMHead`-like config with ``forward``,
            ``cam_and_logits``, ``loss_cls`` and ``in_index``.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        train_cfg (dict, optional): Training options of subclasses.
        aux_losses (list[dict], optional): Configs of auxiliary losses
            (see above). Defaults to none.
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
                 aux_losses: Optional[Sequence[dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.train_cfg = train_cfg
        self.test_cfg = _parse_test_cfg(test_cfg)
        if aux_losses is not None and not isinstance(aux_losses,
                                                     (list, tuple)):
            raise ValueError(f'{type(self).__name__} aux_losses must be a '
                             f'list of loss configs, got {aux_losses!r}.')
        # mmengine's ModuleList: init_weights reaches the losses' init_cfg
        self.aux_losses = ModuleList(
            MODELS.build(cfg) for cfg in aux_losses or ())
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
        """Classification (and auxiliary) losses for (B, 3, H, W) images
        and their ``gt_label`` (C,) each."""
        labels = self._stack_labels(data_samples)
        feats = self.extract_feat(inputs)
        cam, logits = self.head.cam_and_logits(feats)
        losses = dict(loss_cls=self.head.loss_cls(logits, labels))
        self.add_aux_losses(losses, inputs, labels,
                            (self.contrast_view(inputs, feats, cam), None))
        return losses

    def contrast_view(self,
                      images: Tensor,
                      feats: Optional[Sequence[Tensor]] = None,
                      cam: Optional[Tensor] = None) -> ContrastView:
        """The view of (B, 3, H, W) images that auxiliary losses read.

        Args:
            images (Tensor): (B, 3, H, W) images.
            feats (Sequence[Tensor], optional): Their backbone outputs,
                when already computed.
            cam (Tensor, optional): (B, C, h, w) raw class maps of the head
                for ``feats``, when already computed (not recomputed).

        Returns:
            ContrastView: The head's input feature at ``in_index``, before
            the head's channel dropout (the one the CAMs are computed from),
            and the raw class maps.
        """
        if feats is None:
            feats = self.extract_feat(images)
        if cam is None:
            cam = self.head.cam_and_logits(feats)[0]
        return ContrastView(feats[self.head.in_index], cam)

    def add_aux_losses(
        self, losses: Dict[str, Tensor], inputs: Tensor, labels: Tensor,
        views: Tuple[Optional[ContrastView], Optional[ContrastView]]
    ) -> None:
        """Add the terms of every auxiliary loss to ``losses`` (in place).

        Args:
            losses (dict[str, Tensor]): The method's own terms.
            inputs (Tensor): (B, 3, H, W) images of view 1.
            labels (Tensor): (B, C) multi-hot image labels.
            views (tuple): (view 1, view 2), :class:`ContrastView` or None
                where the method has not computed it.

        Raises:
            ValueError: If a term's name is already in ``losses``, naming
                the term and who returned it first.
        """
        owners = dict.fromkeys(losses, type(self).__name__)
        for index, aux in enumerate(self.aux_losses):
            owner = f'aux_losses[{index}] ({type(aux).__name__})'
            terms = aux(self, inputs, labels, views)
            for name in terms:
                if name in owners:
                    raise ValueError(
                        f'{type(self).__name__}: {owner} returns the term '
                        f'{name!r}, already returned by {owners[name]}; give '
                        'the auxiliary loss a distinct loss_name.')
                owners[name] = owner
            losses.update(terms)

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
