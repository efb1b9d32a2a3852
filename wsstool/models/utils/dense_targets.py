"""Stack the dense training targets of a batch of data samples."""
from typing import Optional, Sequence

import torch
from torch import Tensor

from wsstool.structures import WSSSDataSample


def stack_dense_field(data_samples: Optional[Sequence[WSSSDataSample]],
                      field: str, owner: str, description: str) -> Tensor:
    """(B, H, W) stack of the (1, H, W) ``field`` maps of a batch.

    Args:
        data_samples (Sequence[WSSSDataSample]): Samples that each hold
            ``field`` (a PixelData), all of the same size (the data
            preprocessor pads training batches).
        field (str): The dense field, e.g. ``'gt_sem_seg'``.
        owner (str): The model's name, used in errors.
        description (str): What the field holds (e.g. ``'label map'``),
            used in errors.

    Returns:
        Tensor: (B, H, W) maps in the fields' dtype and device.

    Raises:
        ValueError: If there are no samples, a sample lacks ``field``
            (naming its ``img_path``) or the maps differ in size.
    """
    if not data_samples:
        raise ValueError(f'{owner} loss needs data_samples with {field} '
                         f'({description}).')
    for sample in data_samples:
        if field not in sample:
            raise ValueError(
                f'{owner} loss: a data sample has no {field} ({description}; '
                f'img_path {sample.metainfo.get("img_path")!r}).')
    maps = [getattr(sample, field).data[0] for sample in data_samples]
    sizes = {tuple(m.shape) for m in maps}
    if len(sizes) > 1:
        raise ValueError(
            f'{owner}: the {field} maps of a batch have sizes '
            f'{sorted(sizes)}; expected one size (pad them with the data '
            'preprocessor in training mode).')
    return torch.stack(maps)
