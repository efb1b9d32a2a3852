"""SEAM: self-supervised equivariant attention mechanism (CVPR 2020)."""
from collections import OrderedDict
from typing import (Collection, Dict, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..classifiers import CAMClassifier
from ..utils import normalize_cam
from ..utils.contrast_view import ContrastView
from ..utils.unprefixed_keys import (register_key_mapping_hook,
                                     rename_prefixed_keys)
from ..utils.views import (check_view_options, resize_corners,
                           second_view_size)

INFER_MAPS = ('pcm', 'cam')
# Module names of the reference networks (SEAM ``resnet38_SEAM.Net``, PPC
# ``resnet38_contrast.Net``) and their wsstool names.
REFERENCE_MODULES = (
    ('fc8.', 'head.conv_cls.'),
    ('f8_3.', 'pcm.f8_3.'),
    ('f8_4.', 'pcm.f8_4.'),
    ('f9.', 'pcm.f9.'),
    ('fc_proj.', 'aux_losses.0.fc_proj.'),
)


class SEAMView(NamedTuple):
    """SEAM's network outputs for one view of a batch of B images.

    Attributes:
        feat (Tensor): (B, D, h, w) classifier input: the final backbone
            feature, channel-dropped in training.
        scores (Tensor): (B, 1 + C, h, w) raw classifier scores (``fc8``),
            background at channel 0.
        refined (Tensor): (B, 1 + C, h, w) PCM output (float32).
    """
    feat: Tensor
    scores: Tensor
    refined: Tensor


def foreground_logits(scores: Tensor) -> Tensor:
    """(B, C) logits: spatial mean of the foreground channels of
    (B, 1 + C, H, W) scores."""
    return scores[:, 1:].mean(dim=(2, 3))


def map_reference_keys(state_dict: Mapping[str, Tensor],
                       model_keys: Collection[str]
                       ) -> 'OrderedDict[str, Tensor]':
    """Rename the head keys of a SEAM/PPC checkpoint to wsstool's.

    A key of a reference module (``fc8``, ``f8_3``, ``f8_4``, ``f9``,
    ``fc_proj``) that is not a model key becomes its wsstool name when the
    model has that key (``fc_proj`` only when a ``PixelPrototypeContrast``
    is ``aux_losses[0]``); every other key is kept
    (:func:`rename_prefixed_keys`).

    Raises:
        ValueError: If two keys map to the same model key.
    """
    return rename_prefixed_keys(state_dict, model_keys, REFERENCE_MODULES)


@MODELS.register_module()
class SEAM(CAMClassifier):
    """SEAM: class maps made equivariant to rescaling and refined by a
    pixel correlation module (PCM).

    Network: the backbone returns the two mid features the PCM reads
    (ResNet-38d ``out_indices=(1, 2, 3)``: conv4, conv5, conv6) and the
    final feature; the head (``CAMHead(with_background=True)``, SEAM's
    ``fc8`` with its Dropout2d) gives 1 + C score maps, background first;
    the PCM (``PixelCorrelationModule``) refines them with the affinities
    of the mid features and the image (gradient into the PCM only).

    Per training step, view 1 is the batch and view 2 its bilinear
    (``align_corners=True``) resize by ``view_scale`` (SEAM: 0.3) or to
    ``view_size`` (PPC: 128 x 128). Both views' scores and refined maps are
    resized to their view's input size (``align_corners=True``); ``y`` are
    the labels, ``y^ = [1, y]``, ``mn`` the ``minmax_train`` normalisation
    and ``down`` the resize to view 2's size:

    * ``loss_cls``: mean over the views of the classification loss of the
      foreground logits (spatial mean of the resized scores).
    * ``loss_amp``: mean over the views of ``loss_amp`` (adaptive
      min-pooling) of the refined foreground maps times ``y``.
    * ``loss_er``: ``loss_er(m1, m2)`` with ``m1 = down(mn(scores1)) * y``,
      ``m2 = mn(scores2) * y`` (foreground channels).
    * ``loss_ecr``: ``loss_ecr(m2, r1) + loss_ecr(m1, r2)`` with
      ``r1 = down(mn(refined1)) * y^``, ``r2 = mn(refined2) * y^``.
    * auxiliary losses (e.g. ``PixelPrototypeContrast``) with the views
      ``ContrastView(feat, refined foreground maps)`` on the feature grids.

    Inference (:class:`CAMClassifier`'s multi-scale + flip with
    ``test_cfg``): the refined foreground maps (``infer_maps='pcm'``, as
    SEAM/PPC) or the plain class maps (``'cam'``), resized to each pass's
    input size with ``align_corners=True`` as the reference network does,
    then to the batch size; ``test_cfg.upsample_stride`` must be None.

    Released SEAM/PPC checkpoints load directly: their backbone keys
    (``conv1a``, ``b2`` ...) get the ``backbone.`` prefix, ``fc8`` becomes
    ``head.conv_cls``, ``f8_3``/``f8_4``/``f9`` ``pcm.*`` and PPC's
    ``fc_proj`` ``aux_losses.0.fc_proj`` (:func:`map_reference_keys`).

    Args:
        backbone (dict): Backbone config returning (mid feature a, mid
            feature b, final feature).
        head (dict): ``CAMHead`` config with ``with_background=True``.
        pcm (dict): ``PixelCorrelationModule`` config.
        view_scale (float, optional): Resize factor of view 2 in (0, 1]
            (each side ``floor(side * view_scale)``). Defaults to 0.3.
        view_size (Sequence[int], optional): Fixed (h, w) of view 2;
            exactly one of ``view_scale`` and ``view_size`` is given
            (:mod:`wsstool.models.utils.views`).
        loss_amp (dict): ``AdaptiveMinPoolingLoss`` config.
        loss_er (dict): ``EquivariantRegLoss`` config.
        loss_ecr (dict): ``EquivariantCrossRegLoss`` config.
        infer_maps (str): ``'pcm'`` or ``'cam'`` (see above).
        data_preprocessor, train_cfg, test_cfg, aux_losses, init_cfg: As
            :class:`CAMClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 pcm: dict = dict(type='PixelCorrelationModule'),
                 view_scale: Optional[float] = 0.3,
                 view_size: Optional[Sequence[int]] = None,
                 loss_amp: dict = dict(
                     type='AdaptiveMinPoolingLoss', loss_weight=1.0),
                 loss_er: dict = dict(
                     type='EquivariantRegLoss', loss_weight=1.0),
                 loss_ecr: dict = dict(
                     type='EquivariantCrossRegLoss', loss_weight=1.0,
                     top_ratio=0.2),
                 infer_maps: str = 'pcm',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 aux_losses: Optional[Sequence[dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            data_preprocessor=data_preprocessor,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            aux_losses=aux_losses,
            init_cfg=init_cfg)
        name = type(self).__name__
        if not getattr(self.head, 'with_background', False):
            raise ValueError(f'{name} needs a head with a background channel '
                             "(dict(type='CAMHead', with_background=True)).")
        check_view_options(name, view_size, view_scale)
        if infer_maps not in INFER_MAPS:
            raise ValueError(f'{name} infer_maps={infer_maps!r}; expected '
                             f'one of {INFER_MAPS}.')
        if self.test_cfg['upsample_stride'] is not None:
            raise ValueError(
                f'{name} test_cfg.upsample_stride must be None: its maps are '
                'already at the input resolution, got '
                f'{self.test_cfg["upsample_stride"]!r}.')
        self.pcm = MODELS.build(pcm)
        self.view_scale = view_scale
        self.view_size = None if view_size is None else tuple(view_size)
        self.loss_amp = MODELS.build(loss_amp)
        self.loss_er = MODELS.build(loss_er)
        self.loss_ecr = MODELS.build(loss_ecr)
        self.infer_maps = infer_maps
        register_key_mapping_hook(self, self._map_reference_keys)

    def _map_reference_keys(
            self, state_dict: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """:func:`map_reference_keys` against this model's keys."""
        return map_reference_keys(state_dict, self.state_dict().keys())

    def view(self,
             images: Tensor,
             feats: Optional[Sequence[Tensor]] = None) -> SEAMView:
        """Network outputs of (B, 3, H, W) images (``feats``: their
        backbone outputs when already computed)."""
        if feats is None:
            feats = self.extract_feat(images)
        feat = self.head.pre_logits(feats)
        scores = self.head.score_maps(feat)
        return SEAMView(feat, scores, self.pcm(scores, feats, images))

    def second_view(self, images: Tensor) -> Tensor:
        """View 2 of (B, 3, H, W) images: resized by ``view_scale`` or to
        ``view_size`` (bilinear, ``align_corners=True``)."""
        return resize_corners(
            images,
            second_view_size(images.shape, self.view_size, self.view_scale))

    def contrast_view(self,
                      images: Tensor,
                      feats: Optional[Sequence[Tensor]] = None,
                      cam: Optional[Tensor] = None) -> ContrastView:
        """Classifier input feature (channel-dropped in training) and raw
        refined foreground maps of (B, 3, H, W) images on the feature grid,
        for auxiliary losses (``feats``: their backbone outputs when already
        computed).

        Raises:
            ValueError: If ``cam`` is given: SEAM's maps are the PCM output
                of the dropped feature, computed together with it.
        """
        if cam is not None:
            raise ValueError(
                f'{type(self).__name__}.contrast_view computes its maps '
                '(the PCM refinement of the dropped feature\'s scores) '
                'itself; pass cam=None, or build the view from a SEAMView '
                'of the same pass.')
        return self._contrast_view(self.view(images, feats))

    @staticmethod
    def _contrast_view(view: SEAMView) -> ContrastView:
        """The :class:`ContrastView` of a :class:`SEAMView`: its classifier
        input (B, D, h, w) and refined foreground maps (B, C, h, w),
        background channel dropped."""
        return ContrastView(view.feat, view.refined[:, 1:])

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """SEAM (and auxiliary) losses for (B, 3, H, W) images and their
        ``gt_label`` (C,) each; see the class docstring."""
        labels = self._stack_labels(data_samples)
        inputs2 = self.second_view(inputs)
        view1, view2 = self.view(inputs), self.view(inputs2)
        size1, size2 = inputs.shape[-2:], inputs2.shape[-2:]
        scores1 = resize_corners(view1.scores, size1)
        scores2 = resize_corners(view2.scores, size2)
        refined1 = resize_corners(view1.refined, size1)
        refined2 = resize_corners(view2.refined, size2)
        fg_labels = labels[:, :, None, None]
        all_labels = F.pad(fg_labels, (0, 0, 0, 0, 1, 0), value=1.0)

        loss_cls = self.head.loss_cls
        losses = dict(loss_cls=(
            loss_cls(foreground_logits(scores1), labels) +
            loss_cls(foreground_logits(scores2), labels)) / 2)
        losses[self.loss_amp.loss_name] = (
            self.loss_amp(refined1[:, 1:] * fg_labels) +
            self.loss_amp(refined2[:, 1:] * fg_labels)) / 2

        cam1 = resize_corners(
            normalize_cam(scores1[:, 1:], 'minmax_train'), size2) * fg_labels
        cam2 = normalize_cam(scores2[:, 1:], 'minmax_train') * fg_labels
        rv1 = resize_corners(normalize_cam(refined1, 'minmax_train'),
                             size2) * all_labels
        rv2 = normalize_cam(refined2, 'minmax_train') * all_labels
        losses[self.loss_er.loss_name] = self.loss_er(cam1, cam2)
        losses[self.loss_ecr.loss_name] = (
            self.loss_ecr(cam2, rv1) + self.loss_ecr(cam1, rv2))
        self.add_aux_losses(
            losses, inputs, labels,
            (self._contrast_view(view1), self._contrast_view(view2)))
        return losses

    def _cam_and_logits(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Foreground maps (N, C, H, W) at the input size (refined or plain,
        ``infer_maps``) and logits (N, C) of (N, 3, H, W) images."""
        view = self.view(inputs)
        size = inputs.shape[-2:]
        maps = view.refined if self.infer_maps == 'pcm' else view.scores
        return (resize_corners(maps[:, 1:], size),
                foreground_logits(resize_corners(view.scores, size)))

    def _forward(self, inputs: Tensor) -> Tensor:
        """``'tensor'`` mode: (B, C) logits of (B, 3, H, W) images."""
        return self._cam_and_logits(inputs)[1]
