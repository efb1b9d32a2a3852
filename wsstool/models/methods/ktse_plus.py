"""KTSE+: a reading of a later KTSE code variant (not a published method)."""
from typing import Dict

import torch
from torch import Tensor

from wsstool.registry import MODELS
from ..erasers.base import BaseEraser
from .ktse import KTSE


@MODELS.register_module()
class KTSEPlus(KTSE):
    """KTSE+ ("activation leakage suppression"), as read from a later,
    publicly circulating variant of KTSE's training code. No paper text
    exists for it; what follows is wsstool's reading of that code, not a
    verified published method.

    Differences from :class:`KTSE` (everything else is identical):

    * MGA local at image resolution with a 1.3 factor on the erased CAM:
      ``relu(1.3 up(cam_m) m_img - up(cam) m_img - 0.05)`` (set by
      ``local_alignment='image'`` and ``loss_local.scale=1.3``).
    * Knowledge transfer on rectified CAMs upsampled to the composed image
      (``transfer_alignment='image_rectified'``).
    * Copy-paste erasing (``CopyPasteEraser``): from epoch
      ``erase_start_epoch + paste_delay`` a memory bank of reliable
      foreground crops fills, and crops of absent classes are pasted into
      the erased region of uncertain images. In the epochs before that, the
      copy-paste eraser's ``base`` eraser (hard erasing) is used alone.
      While it runs, the number of bank items and of pasted images of the
      step are logged as ``bank_items`` and ``pasted_images`` (not losses).

    Args:
        paste_delay (int): Epochs after ``erase_start_epoch`` before the
            copy-paste eraser starts (the code variant: 1).
        **kwargs: :class:`KTSE` arguments; ``eraser`` must have a ``base``
            eraser (``CopyPasteEraser``).
    """

    def __init__(self,
                 eraser: dict = dict(
                     type='CopyPasteEraser',
                     base=dict(type='HardThresholdEraser', threshold=0.6)),
                 loss_local: dict = dict(
                     type='ActivationHingeLoss',
                     loss_weight=1.0,
                     margin=0.05,
                     scale=1.3),
                 local_alignment: str = 'image',
                 transfer_alignment: str = 'image_rectified',
                 paste_delay: int = 1,
                 **kwargs) -> None:
        super().__init__(
            eraser=eraser,
            loss_local=loss_local,
            local_alignment=local_alignment,
            transfer_alignment=transfer_alignment,
            **kwargs)
        if not isinstance(getattr(self.eraser, 'base', None), BaseEraser):
            raise ValueError(
                f'KTSEPlus eraser {type(self.eraser).__name__} has no `base` '
                'eraser to use before the copy-paste starts; use '
                "dict(type='CopyPasteEraser', base=...).")
        if not (isinstance(paste_delay, int) and paste_delay >= 0):
            raise ValueError(f'KTSEPlus paste_delay={paste_delay!r}; '
                             'expected an int >= 0.')
        self.paste_delay = paste_delay

    def loss(self, *args, **kwargs) -> Dict[str, Tensor]:
        """KTSE's loss terms, plus the copy-paste statistics."""
        losses = super().loss(*args, **kwargs)
        if self.erasing_active and self.active_eraser() is self.eraser:
            device = losses['loss_cls'].device
            losses['bank_items'] = torch.tensor(
                float(self.eraser.num_bank_items), device=device)
            losses['pasted_images'] = torch.tensor(
                float(len(self.eraser.last_paste)), device=device)
        return losses

    def active_eraser(self) -> BaseEraser:
        """The base eraser for ``paste_delay`` epochs after T, then the
        copy-paste eraser."""
        if self.epoch < self.erase_start_epoch + self.paste_delay:
            return self.eraser.base
        return self.eraser
