"""AEFT: adversarial erasing framework via triplet (ECCV 2022)."""
from typing import Dict, List, Optional

from torch import Tensor

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..utils.negative_mining import mine_disjoint_negatives
from .adversarial_erasing import AdversarialErasingClassifier


@MODELS.register_module()
class AEFT(AdversarialErasingClassifier):
    """AEFT: a GPP classifier whose erased images are attracted to, and whose
    low-activation regions are repelled from, the images without a shared
    class.

    Per step, with (cam, s, gpp) the head output of the anchor batch:

    * ``loss_cls``: classification loss on s (all samples by default).
    * From ``erase_start_epoch``: the eraser (soft CAM-weighted by default)
      gives the erased batch; ``loss_attraction`` aligns the GAP of the two
      GPP maps (weight 0.2) and ``loss_repulsion`` is the triplet term in GPP
      space against a negative sharing no class, mined in the batch
      (weight 0.15, margin 0.5; anchors without a negative are skipped).

    Faithfulness option: the reference computes the classification loss on
    the first 8 samples of the batch only, also after the batch grows to 32;
    ``cls_loss_first_n=8`` reproduces it (default ``None``: every sample).

    Args:
        backbone (dict): Backbone config.
        head (dict): ``GPPCAMHead`` config (20 channels, no background).
        eraser (dict): ``ERASERS`` config. Defaults to AEFT's soft erasing.
        erase_start_epoch (int): T. Defaults to 18.
        loss_attraction (dict): ``GAPAlignmentLoss`` config.
        loss_repulsion (dict): ``TripletRepulsionLoss`` config.
        cls_loss_first_n (int, optional): See above.
        **kwargs: ``data_preprocessor``, ``train_cfg``, ``test_cfg``,
            ``aux_losses``, ``init_cfg`` of :class:`CAMClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 eraser: dict = dict(type='SoftCAMEraser', threshold=0.6),
                 erase_start_epoch: int = 18,
                 loss_attraction: dict = dict(
                     type='GAPAlignmentLoss', loss_weight=0.2),
                 loss_repulsion: dict = dict(
                     type='TripletRepulsionLoss',
                     loss_weight=0.15,
                     margin=0.5,
                     low_thr=0.2,
                     high_thr=1.0,
                     min_hard_pairs=5),
                 cls_loss_first_n: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            eraser=eraser,
            erase_start_epoch=erase_start_epoch,
            **kwargs)
        if cls_loss_first_n is not None and not (
                isinstance(cls_loss_first_n, int) and cls_loss_first_n > 0):
            raise ValueError(f'AEFT cls_loss_first_n={cls_loss_first_n!r}; '
                             'expected None or a positive int.')
        self.loss_attraction = MODELS.build(loss_attraction)
        self.loss_repulsion = MODELS.build(loss_repulsion)
        self.cls_loss_first_n = cls_loss_first_n

    def loss(self, inputs: Tensor, data_samples: List[WSSSDataSample],
             **partner) -> Dict[str, Tensor]:
        """Named loss terms for (B, 3, H, W) images (a partner batch, if
        any, is not used)."""
        labels = self._stack_labels(data_samples)
        out, view = self.anchor_output(inputs)
        first = slice(None, self.cls_loss_first_n)
        losses = dict(
            loss_cls=self.head.loss_cls(out.logits[first], labels[first]))
        self.add_aux_losses(losses, inputs, labels, (view, None))
        if not self.erasing_active:
            return losses
        erased = self.eraser(self.erasing_inputs(inputs, out.cam, labels))
        out_erased = self.head_output(erased)
        losses['loss_attraction'] = self.loss_attraction(
            out.pooled_map, out_erased.pooled_map, labels)
        losses['loss_repulsion'] = self.loss_repulsion(
            out.pooled_map, out.cam, labels, mine_disjoint_negatives(labels))
        return losses
