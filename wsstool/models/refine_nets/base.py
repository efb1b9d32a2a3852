"""Base of the refinement networks: learn affinities from relation labels,
predict pseudo labels by propagating CAMs."""
from abc import abstractmethod
from typing import List, Optional, Sequence, Union

import torch
from mmengine.structures import BaseDataElement, PixelData
from torch import Tensor, nn

from wsstool.structures import WSSSDataSample
from ..utils.dense_targets import stack_dense_field
from ..utils.pseudo_label import scores_to_label
from ..utils.unprefixed_keys import KeyMapping, register_key_mapping_hook
from ..wsss_model import WSSSModel


class BaseRefineNet(WSSSModel):
    """A network trained on relation labels that refines CAMs into pseudo
    labels.

    Modes of :meth:`forward`: ``'loss'`` (:meth:`loss` against the relation
    labels ``gt_sem_seg``), ``'tensor'`` (:meth:`_forward`) and
    ``'predict'`` (:meth:`predict`: one image's ``pred_cam`` through
    :meth:`propagate_cams` and :meth:`refine_scores`).

    Args:
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        init_cfg (dict, optional): mmengine init config.
        map_keys (callable, optional): Renames the keys of reference
            checkpoints on loading (see :func:`register_key_mapping_hook`;
            default: the unprefixed-key mapping).
    """

    def __init__(self,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 map_keys: Optional[KeyMapping] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        register_key_mapping_hook(self, map_keys)

    @abstractmethod
    def propagate_cams(self, inputs: Tensor, cams: Tensor) -> Tensor:
        """(K + 1, H, W) float32 scores (channel 0 = background) of one
        (1, 3, H, W) image from its (K, H, W) CAMs."""

    def _stack_relation_labels(
            self, data_samples: Optional[Sequence[WSSSDataSample]],
            device: torch.device) -> Tensor:
        """(B, H, W) int64 relation labels ``gt_sem_seg`` of the samples
        on ``device``."""
        labels = stack_dense_field(data_samples, 'gt_sem_seg',
                                   type(self).__name__, 'relation labels')
        return labels.to(device=device, dtype=torch.int64)

    def refine_scores(self, score: Tensor,
                      data_sample: WSSSDataSample) -> Tensor:
        """Post-process the propagated (K + 1, H, W) scores of a sample;
        unchanged here."""
        return score

    def predict(self, inputs: Tensor,
                data_samples: Sequence[WSSSDataSample]
                ) -> List[WSSSDataSample]:
        """Pseudo label of one image from its CAMs.

        Args:
            inputs (Tensor): (1, 3, H, W) normalised image.
            data_samples (Sequence[WSSSDataSample]): One sample with
                ``pred_cam`` (``cam`` (K, H, W), ``class_ids`` (K,)) at the
                input size.

        Returns:
            list[WSSSDataSample]: The sample with ``pred_scores``
            (``score`` (K + 1, H, W) float32, ``class_ids`` (K,) int64) and
            ``pred_sem_seg`` ((1, H, W) int64, 0 = background, c + 1 =
            class c).
        """
        name = type(self).__name__
        if inputs.shape[0] != 1 or not data_samples or len(data_samples) != 1:
            raise ValueError(
                f'{name} predicts one image at a time (batch size 1), got '
                f'inputs {tuple(inputs.shape)} and '
                f'{len(data_samples or ())} data samples.')
        sample = data_samples[0]
        if 'pred_cam' not in sample:
            raise ValueError(
                f'{name} predict needs pred_cam (cam (K, H, W), class_ids '
                '(K,)) on the data sample (img_path '
                f'{sample.metainfo.get("img_path")!r}).')
        cams = torch.as_tensor(
            sample.pred_cam.cam, dtype=torch.float32, device=inputs.device)
        class_ids = torch.as_tensor(
            sample.pred_cam.class_ids, dtype=torch.int64,
            device=inputs.device)
        if class_ids.dim() != 1 or len(class_ids) != len(cams):
            raise ValueError(
                f'{name} predict: pred_cam.class_ids '
                f'{tuple(class_ids.shape)} must be (K,) for cam '
                f'{tuple(cams.shape)}.')
        score = self.refine_scores(self.propagate_cams(inputs, cams), sample)
        sample.pred_scores = BaseDataElement(score=score, class_ids=class_ids)
        sample.pred_sem_seg = PixelData(
            data=scores_to_label(score, class_ids)[None])
        return [sample]
