"""Batch normalisation and padding of images and their dense annotations."""
from typing import Optional, Sequence, Union

import torch.nn.functional as F
from mmengine.model import ImgDataPreprocessor
from mmengine.structures import PixelData
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class WSSSDataPreprocessor(ImgDataPreprocessor):
    """Collate WSSS samples into a normalised, padded batch.

    Converts the pipeline's BGR uint8 images to RGB, normalises them with
    ``mean``/``std`` (RGB, 0-255 range), pads them at the bottom/right to the
    largest size in the batch (rounded up to ``pad_size_divisor``) with
    ``pad_value`` (0 after normalisation, i.e. the mean colour). In training
    it also pads the dense fields of the data samples to the same size:
    ``gt_sem_seg`` with ``seg_pad_val``, the ``conf_mask``/``valid_mask``
    booleans with False and SSC's ``superpixel`` ids with -1 (no
    superpixel). At test time the dense fields keep each image's own
    size, since predictions are mapped back to the original resolution and
    evaluated against them there.

    Paired batches (see :class:`wsstool.datasets.ClassPairedDataset`) also
    carry ``partner_inputs`` and ``partner_data_samples``; they are processed
    exactly like ``inputs``/``data_samples`` (padded to their own batch
    size) and returned under the same keys, which mmengine passes to the
    model's ``forward`` as keyword arguments.

    Args:
        mean (Sequence[float]): RGB mean. Defaults to ImageNet's.
        std (Sequence[float]): RGB std. Defaults to ImageNet's.
        pad_size_divisor (int): Padded sizes are multiples of this.
        pad_value (float): Value of padded image pixels (after
            normalisation).
        seg_pad_val (int): Value of padded ``gt_sem_seg`` pixels (ignore).
        bgr_to_rgb (bool): Convert BGR inputs to RGB.
        non_blocking (bool): Non-blocking host-to-device copies.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = (123.675, 116.28, 103.53),
                 std: Optional[Sequence[float]] = (58.395, 57.12, 57.375),
                 pad_size_divisor: int = 1,
                 pad_value: float = 0,
                 seg_pad_val: int = 255,
                 bgr_to_rgb: bool = True,
                 non_blocking: bool = False) -> None:
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            bgr_to_rgb=bgr_to_rgb,
            non_blocking=non_blocking)
        self.seg_pad_values = dict(
            gt_sem_seg=seg_pad_val,
            conf_mask=False,
            valid_mask=False,
            superpixel=-1)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise and pad a batch (and its partner batch, if any).

        Args:
            data (dict): ``inputs`` (list of uint8 (3, H_i, W_i) or a
                (B, 3, H, W) tensor) and optional ``data_samples``; for
                paired batches also ``partner_inputs`` and optional
                ``partner_data_samples`` of the same form.
            training (bool): Pad the dense fields too (training batches).

        Returns:
            dict: ``inputs`` float (B, 3, H, W) and ``data_samples`` (list;
            in training with dense fields padded to (1, H, W)) or None; for
            paired batches also ``partner_inputs`` and
            ``partner_data_samples`` in the same form.
        """
        batch = self._process(data['inputs'], data.get('data_samples'),
                              training)
        if 'partner_inputs' in data:
            partner = self._process(data['partner_inputs'],
                                    data.get('partner_data_samples'),
                                    training)
            batch.update(
                partner_inputs=partner['inputs'],
                partner_data_samples=partner['data_samples'])
        elif 'partner_data_samples' in data:
            raise KeyError('the batch has partner_data_samples but no '
                           'partner_inputs')
        return batch

    def _process(self, inputs: Union[Tensor, Sequence[Tensor]],
                 data_samples: Optional[list], training: bool) -> dict:
        """Normalise and pad one batch of images and its data samples."""
        data = super().forward(
            dict(inputs=inputs, data_samples=data_samples), training)
        inputs, data_samples = data['inputs'], data['data_samples']
        if training and data_samples is not None:
            for sample in data_samples:
                self._pad_dense_fields(sample, inputs.shape[-2:])
        return dict(inputs=inputs, data_samples=data_samples)

    def _pad_dense_fields(self, sample, size: Sequence[int]) -> None:
        """Pad each dense PixelData field of ``sample`` to ``size`` (h, w)
        at the bottom/right."""
        for field, pad_value in self.seg_pad_values.items():
            if field not in sample:
                continue
            pixel_data = getattr(sample, field)
            data: Tensor = pixel_data.data
            pad_h = size[0] - data.shape[-2]
            pad_w = size[1] - data.shape[-1]
            if pad_h == 0 and pad_w == 0:
                continue
            if pad_h < 0 or pad_w < 0:
                raise ValueError(
                    f'{field} of size {tuple(data.shape[-2:])} is larger '
                    f'than its batch image {tuple(size)} (sample '
                    f'{sample.metainfo.get("img_path", "")!r}).')
            padded = F.pad(data, (0, pad_w, 0, pad_h), value=pad_value)
            setattr(sample, field,
                    PixelData(data=padded, metainfo=pixel_data.metainfo))


def build_data_preprocessor(
        data_preprocessor: Optional[Union[dict, nn.Module]]) -> nn.Module:
    """The data preprocessor of a model: a given module as is, a config
    built from ``MODELS``, or ``WSSSDataPreprocessor()`` for None."""
    if data_preprocessor is None:
        return WSSSDataPreprocessor()
    if isinstance(data_preprocessor, dict):
        return MODELS.build(data_preprocessor)
    return data_preprocessor
