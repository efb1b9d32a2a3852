"""KTSE: knowledge transfer with simulated inter-image erasing (ECCV 2024)."""
import dataclasses
from typing import Dict, List

from torch import Tensor

from wsstool.registry import ERASERS, MODELS, REFINERS
from wsstool.structures import WSSSDataSample
from ..erasers.base import BaseEraser, ErasingInputs
from ..utils.online_pseudo_label import par_pseudo_labels
from .adversarial_erasing import (AdversarialErasingClassifier,
                                  foreground_cams, upsample_to)

LOCAL_ALIGNMENTS = ('feature', 'image')
TRANSFER_ALIGNMENTS = ('feature_raw', 'image_rectified')


@MODELS.register_module()
class KTSE(AdversarialErasingClassifier):
    """KTSE: one GPP network (with a background channel) trained on an
    image, its erased copy, its partner and the composition of both.

    Per step, with ``out`` the head output of the anchor batch:

    * ``loss_cls``: classification loss on the GPP logits (all epochs).

    From ``erase_start_epoch`` (T), with the partner batch of a
    ``ClassPairedDataset`` (each anchor's partner shares a class):

    * Intra-image erasing: the eraser (hard, threshold 0.6, by default)
      erases the anchors; ``loss_local`` (MGA local) is the hinge
      ``relu(cam_erased * m - cam * m - 0.05)`` over present classes in the
      non-discriminative region m = [max_c minmax(cam) * y < ``mask_thr``];
      ``loss_global`` (MGA global) aligns the GAP of the rectified CAMs of
      image and erased image.
    * Online pseudo labels for anchors and the partners of the composed
      pairs (the other partners are not run): the max-normalised CAM
      with background 0.30 and 0.15, refined by ``refiner`` (PAR) at half
      resolution; pixels only certain at the low threshold are ignored.
      ``loss_seg_*`` (SSR) trains the background channel on them.
    * Simulated inter-image erasing: ``inter_eraser`` composes the first
      anchors with their partners; ``loss_kt`` is the hinge
      ``relu(reference - cam_composed - 0.05)`` where the reference is the
      composition of the single-image CAMs, and ``loss_seg_two_*`` the SSR
      terms (background and single-class foreground) on the composition.

    Nothing is detached in the hinge and alignment losses, as in the
    reference (``detach_reference`` of the losses changes that).

    Args:
        backbone (dict): Backbone config.
        head (dict): ``GPPCAMHead`` config with ``with_background=True``.
        eraser (dict): ``ERASERS`` config of the intra-image eraser.
        inter_eraser (dict): ``ERASERS`` config composing anchor and partner
            (``SimulatedInterImageEraser``; ``dim='height'`` stacks
            vertically as the reference code, ``'width'`` as the paper
            figure).
        refiner (dict): ``REFINERS`` config refining the online pseudo
            labels (PAR).
        pseudo_label_cfg (dict): ``high_bg``, ``low_bg``, ``scale`` of
            :func:`par_pseudo_labels`.
        mask_thr (float): Threshold of the non-discriminative region.
        erase_start_epoch (int): T. Defaults to 10.
        loss_local (dict): ``ActivationHingeLoss`` of MGA local.
        loss_global (dict): ``GAPAlignmentLoss`` of MGA global.
        loss_kt (dict): ``ActivationHingeLoss`` of the knowledge transfer.
        loss_seg (dict): ``SelfSupervisedSegLoss`` on the anchors.
        loss_seg_two (dict): ``SelfSupervisedSegLoss`` on the compositions.
        local_alignment (str): ``'feature'`` (KTSE: raw CAMs and mask on the
            feature grid) or ``'image'`` (KTSE+ reading: upsampled raw CAMs
            and the image-resolution mask).
        transfer_alignment (str): ``'feature_raw'`` (KTSE: raw CAMs on the
            feature grid) or ``'image_rectified'`` (KTSE+ reading: rectified
            CAMs upsampled to the composed image).
        **kwargs: ``data_preprocessor``, ``train_cfg``, ``test_cfg``,
            ``aux_losses``, ``init_cfg`` of :class:`CAMClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 eraser: dict = dict(type='HardThresholdEraser', threshold=0.6),
                 inter_eraser: dict = dict(
                     type='SimulatedInterImageEraser', num_pairs=4,
                     dim='height'),
                 refiner: dict = dict(type='PAR'),
                 pseudo_label_cfg: dict = dict(
                     high_bg=0.30, low_bg=0.15, scale=0.5),
                 mask_thr: float = 0.6,
                 erase_start_epoch: int = 10,
                 loss_local: dict = dict(
                     type='ActivationHingeLoss', loss_weight=1.0, margin=0.05),
                 loss_global: dict = dict(
                     type='GAPAlignmentLoss', loss_weight=1.0),
                 loss_kt: dict = dict(
                     type='ActivationHingeLoss', loss_weight=1.0, margin=0.05),
                 loss_seg: dict = dict(type='SelfSupervisedSegLoss'),
                 loss_seg_two: dict = dict(
                     type='SelfSupervisedSegLoss',
                     inter_weight=0.0,
                     fg_single_class_only=False,
                     loss_name='loss_seg_two'),
                 local_alignment: str = 'feature',
                 transfer_alignment: str = 'feature_raw',
                 **kwargs) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            eraser=eraser,
            erase_start_epoch=erase_start_epoch,
            **kwargs)
        name = type(self).__name__
        if not getattr(self.head, 'with_background', False):
            raise ValueError(f'{name} needs a head with a background channel '
                             '(GPPCAMHead with_background=True) for its '
                             'self-supervised segmentation losses.')
        if local_alignment not in LOCAL_ALIGNMENTS:
            raise ValueError(f'{name} local_alignment={local_alignment!r}; '
                             f'expected one of {LOCAL_ALIGNMENTS}.')
        if transfer_alignment not in TRANSFER_ALIGNMENTS:
            raise ValueError(f'{name} transfer_alignment='
                             f'{transfer_alignment!r}; expected one of '
                             f'{TRANSFER_ALIGNMENTS}.')
        self.inter_eraser = ERASERS.build(inter_eraser)
        self.refiner = REFINERS.build(refiner)
        self.pseudo_label_cfg = dict(pseudo_label_cfg)
        self.mask_thr = mask_thr
        self.loss_local = MODELS.build(loss_local)
        self.loss_global = MODELS.build(loss_global)
        self.loss_kt = MODELS.build(loss_kt)
        self.loss_seg = MODELS.build(loss_seg)
        self.loss_seg_two = MODELS.build(loss_seg_two)
        self.local_alignment = local_alignment
        self.transfer_alignment = transfer_alignment

    def pseudo_labels(self, inputs: Tensor, cam: Tensor,
                      labels: Tensor) -> Tensor:
        """(B, H, W) online PAR pseudo labels (0 bg, c + 1, 255 ignore) of
        (B, 3, H, W) images from their raw (B, C, h, w) CAMs (no
        gradient)."""
        return par_pseudo_labels(cam, labels, self.unit_range_images(inputs),
                                 self.refiner, **self.pseudo_label_cfg)

    def active_eraser(self) -> BaseEraser:
        """The intra-image eraser used in the current epoch."""
        return self.eraser

    def loss(self,
             inputs: Tensor,
             data_samples: List[WSSSDataSample],
             partner_inputs: Tensor = None,
             partner_data_samples: List[WSSSDataSample] = None
             ) -> Dict[str, Tensor]:
        """Named loss terms for (B, 3, H, W) anchors and their partners."""
        labels = self._stack_labels(data_samples)
        partner_labels = self.stack_partner_labels(partner_data_samples)
        out, view = self.anchor_output(inputs)
        losses = dict(loss_cls=self.head.loss_cls(out.logits, labels))
        self.add_aux_losses(losses, inputs, labels, (view, None))
        if not self.erasing_active:
            return losses
        # only the first pairs are composed: the other partners are unused
        num_pairs = min(self.inter_eraser.num_pairs, len(inputs))
        partner_inputs = partner_inputs[:num_pairs]
        partner_labels = partner_labels[:num_pairs]
        out_partner = self.head_output(partner_inputs)
        pseudo = self.pseudo_labels(inputs, out.cam, labels)
        partner_pseudo = self.pseudo_labels(partner_inputs, out_partner.cam,
                                            partner_labels)

        erasing = dataclasses.replace(
            self.erasing_inputs(inputs, out.cam, labels),
            pseudo_labels=pseudo)
        out_erased = self.head_output(self.active_eraser()(erasing))
        losses['loss_local'] = self._local_alignment(out.cam, out_erased.cam,
                                                     erasing, labels)
        losses['loss_global'] = self.loss_global(out.cam, out_erased.cam,
                                                 labels)
        losses.update(
            self.loss_seg(out.seg, pseudo, labels, erasing.fg_cam))

        compose = self.inter_eraser.compose
        anchors = slice(None, num_pairs)
        composed = compose(inputs[anchors], partner_inputs)
        composed_labels = self.inter_eraser.compose_labels(
            labels[anchors], partner_labels)
        out_composed = self.head_output(composed)
        losses['loss_kt'] = self._transfer(
            compose(out.cam[anchors], out_partner.cam), out_composed.cam,
            composed_labels, composed.shape[-2:])
        losses.update(
            self.loss_seg_two(out_composed.seg,
                              compose(pseudo[anchors], partner_pseudo),
                              composed_labels, None))
        return losses

    def _local_alignment(self, cam: Tensor, cam_erased: Tensor,
                         erasing: ErasingInputs, labels: Tensor) -> Tensor:
        """MGA local on the feature grid or at image resolution."""
        if self.local_alignment == 'feature':
            discriminative = foreground_cams(cam, labels).amax(
                dim=1, keepdim=True)
            mask = (discriminative < self.mask_thr).float()
            return self.loss_local(cam_erased, cam, labels, mask=mask)
        size = erasing.images.shape[-2:]
        mask = (erasing.fg_cam < self.mask_thr).float()
        return self.loss_local(
            upsample_to(cam_erased, size), upsample_to(cam, size), labels,
            mask=mask)

    def _transfer(self, reference: Tensor, cam_composed: Tensor,
                  labels: Tensor, size) -> Tensor:
        """Knowledge-transfer hinge on raw feature-grid CAMs or on rectified
        CAMs upsampled to the composed image ``size``."""
        if self.transfer_alignment == 'image_rectified':
            reference = upsample_to(reference.relu(), size)
            cam_composed = upsample_to(cam_composed.relu(), size)
        return self.loss_kt(reference, cam_composed, labels)
