"""Pack the pipeline results into model inputs and a data sample."""
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, PixelData

from wsstool.registry import TRANSFORMS
from wsstool.structures import WSSSDataSample


@TRANSFORMS.register_module()
class PackWSSSInputs(BaseTransform):
    """Pack an image and its annotations for the model.

    Returns ``dict(inputs, data_samples)``: ``inputs`` is the uint8 BGR image
    as a (3, H, W) tensor; ``data_samples`` is a :class:`WSSSDataSample` with
    (where present in the results) ``gt_label`` float32 (C,),
    ``gt_sem_seg`` int64 (1, H, W), ``conf_mask`` and ``valid_mask`` bool
    (1, H, W), ``superpixel`` int64 (1, H, W) superpixel ids from
    :class:`ComputeSuperpixels`, ``pred_cam`` (``cam`` float32 (K, H, W),
    ``class_ids`` int64 (K,)) from :class:`LoadCAMFromFile`, and the
    ``meta_keys`` found in the results as metainfo.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape',
                                             'img_shape', 'flip',
                                             'flip_direction',
                                             'scale_factor')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = WSSSDataSample()
        if 'gt_label' in results:
            sample.gt_label = torch.as_tensor(
                results['gt_label'], dtype=torch.float32)
        if 'gt_seg_map' in results:
            sample.gt_sem_seg = self._pixel_data(results['gt_seg_map'],
                                                 torch.int64)
        if 'superpixel' in results:
            sample.superpixel = self._pixel_data(results['superpixel'],
                                                 torch.int64)
        if 'cam' in results:
            sample.pred_cam = BaseDataElement(
                cam=torch.from_numpy(results['cam']),
                class_ids=torch.from_numpy(results['cam_class_ids']))
        for key in ('conf_mask', 'valid_mask'):
            if key in results:
                setattr(sample, key,
                        self._pixel_data(results[key], torch.bool))
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    @staticmethod
    def _pixel_data(arr: np.ndarray, dtype: torch.dtype) -> PixelData:
        """(H, W) array -> PixelData(data=(1, H, W) tensor of ``dtype``)."""
        return PixelData(data=torch.from_numpy(np.ascontiguousarray(arr)).to(
            dtype)[None])

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
