"""Shared machinery of the adversarial-erasing CAM methods (AEFT, KTSE)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import ERASERS
from wsstool.structures import WSSSDataSample
from ..classifiers import CAMClassifier
from ..erasers.base import ErasingInputs
from ..heads.gpp_cam_head import CAMHeadOutput
from ..utils import normalize_cam
from ..utils.contrast_view import ContrastView


def upsample_to(maps: Tensor, size) -> Tensor:
    """Bilinearly resize (B, K, h, w) maps to ``size`` (H, W)
    (``align_corners=False``)."""
    return F.interpolate(
        maps, size=tuple(size), mode='bilinear', align_corners=False)


def foreground_cams(cam: Tensor, labels: Tensor) -> Tensor:
    """Per-class ``minmax_train``-normalised CAMs of the present classes.

    Args:
        cam (Tensor): (B, C, h, w) class maps.
        labels (Tensor): (B, C) multi-hot labels.

    Returns:
        Tensor: (B, C, h, w) maps in [0, 1], zero for absent classes.
    """
    return normalize_cam(cam, 'minmax_train') * labels[..., None, None]


class AdversarialErasingClassifier(CAMClassifier):
    """A CAM classifier trained, from epoch ``erase_start_epoch`` on, also on
    images whose most discriminative regions were erased.

    The erasing strategy is a plugin from the ``ERASERS`` registry (see
    :class:`~wsstool.models.erasers.base.BaseEraser`): swapping it is a one
    line config change. Epochs are counted by the ``TrainEpochHook``, which
    calls :meth:`set_epoch` before every training epoch (also after a
    resume); the schedule thus lives in the config, not in the code.

    The head must return a
    :class:`~wsstool.models.heads.gpp_cam_head.CAMHeadOutput`
    (e.g. ``GPPCAMHead``). Inference is :class:`CAMClassifier`'s.

    Args:
        backbone (dict): Backbone config.
        head (dict): Head config (``GPPCAMHead``-like).
        eraser (dict): ``ERASERS`` config of the intra-image eraser.
        erase_start_epoch (int): First (0-based) epoch with erasing losses;
            before it only the classification loss is trained (AEFT 18,
            KTSE 10).
        data_preprocessor, train_cfg, test_cfg, aux_losses, init_cfg: As
            :class:`CAMClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 eraser: dict,
                 erase_start_epoch: int,
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
        if not (isinstance(erase_start_epoch, int) and erase_start_epoch >= 0):
            raise ValueError(f'{type(self).__name__} erase_start_epoch='
                             f'{erase_start_epoch!r}; expected an int >= 0.')
        self.eraser = ERASERS.build(eraser)
        self.erase_start_epoch = erase_start_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Record the (0-based) training epoch that starts."""
        self.epoch = epoch

    @property
    def erasing_active(self) -> bool:
        """Whether the erasing losses are trained in the current epoch."""
        return self.epoch >= self.erase_start_epoch

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None,
                mode: str = 'tensor',
                **partner) -> Union[Dict[str, Tensor], Tensor, list]:
        """As :meth:`CAMClassifier.forward`; ``'loss'`` also receives the
        partner batch of a ``ClassPairedDataset`` (``partner_inputs``,
        ``partner_data_samples``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, **partner)
        return super().forward(inputs, data_samples, mode)

    def head_output(self, images: Tensor) -> CAMHeadOutput:
        """Head output for (B, 3, H, W) images."""
        return self.head(self.extract_feat(images))

    def anchor_output(self,
                      images: Tensor) -> Tuple[CAMHeadOutput, ContrastView]:
        """Head output for (B, 3, H, W) images and their contrast view for
        auxiliary losses (:meth:`contrast_view`, from the same pass)."""
        feats = self.extract_feat(images)
        out = self.head(feats)
        return out, self.contrast_view(images, feats, out.cam)

    def erasing_inputs(self, images: Tensor, cam: Tensor,
                       labels: Tensor) -> ErasingInputs:
        """Everything an eraser may read, from the raw (B, C, h, w) CAMs.

        ``fg_cam`` (B, 1, H, W) is, per pixel, the maximum over the present
        classes of the rectified, upsampled, ``minmax_train``-normalised
        CAMs. Nothing is detached, as in the references (a soft eraser
        therefore back-propagates into the CAM).
        """
        raw_cams = upsample_to(F.relu(cam), images.shape[-2:])
        class_cams = foreground_cams(raw_cams, labels)
        return ErasingInputs(
            images=images,
            fg_cam=class_cams.amax(dim=1, keepdim=True),
            labels=labels,
            class_cams=class_cams,
            raw_cams=raw_cams)

    def unit_range_images(self, inputs: Tensor) -> Tensor:
        """Undo the data preprocessor's normalisation: (B, 3, H, W) RGB in
        [0, 1] (padding becomes the mean colour)."""
        preprocessor = self.data_preprocessor
        return (inputs * preprocessor.std + preprocessor.mean) / 255.0

    def stack_partner_labels(self, partner_data_samples) -> Tensor:
        """(B, C) labels of the partner batch, with a clear error when the
        training set is not paired."""
        if partner_data_samples is None:
            raise ValueError(
                f'{type(self).__name__} needs paired training batches: wrap '
                "the training dataset in dict(type='ClassPairedDataset', "
                'dataset=...) so that every anchor comes with a partner '
                'image sharing a class.')
        return self._stack_labels(partner_data_samples)
