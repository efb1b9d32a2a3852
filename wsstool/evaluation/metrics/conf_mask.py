"""Quality of confidence masks: how right the pseudo labels are where the
mask says they are confident."""
from typing import Any, Dict, Sequence

import numpy as np
import torch

from wsstool.registry import METRICS
from ..functional import class_scores, sum_sparse_counts
from .seg_iou import SegIoUMetric


@METRICS.register_module()
class ConfidenceMaskMetric(SegIoUMetric):
    """Pseudo-label scores restricted to the confident pixels.

    Each sample needs ``pred_sem_seg['data']`` (the pseudo label),
    ``gt_sem_seg['data']`` and ``conf_mask['data']`` (bool (1, H, W),
    True = confident), all at the same resolution.

    Metric keys (percent): ``precision``, the fraction of confident
    (non-ignored) pixels whose pseudo label is right; ``coverage``, the
    fraction of non-ignored pixels that are confident; ``mIoU``,
    ``mPrecision`` and ``mRecall`` of the pseudo labels over the confident
    pixels; and ``nan_policy``.

    Args:
        **kwargs: See :class:`SegIoUMetric`.
    """

    default_prefix = 'conf'

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the confusion matrix of the confident pixels and the number
        of evaluated pixels of every sample."""
        for sample in data_samples:
            gt = sample['gt_sem_seg']['data']
            mask = sample['conf_mask']['data'].to(gt.device)
            if mask.shape[-2:] != gt.shape[-2:]:
                raise ValueError(
                    f'{self.sample_name(sample)}: confidence mask of size '
                    f'{tuple(mask.shape[-2:])} but ground truth of size '
                    f'{tuple(gt.shape[-2:])}')
            num_evaluated = int((gt != self.ignore_index).sum())
            confident_gt = torch.where(mask.bool(), gt, self.ignore_index)
            super().process(data_batch, [
                dict(sample, gt_sem_seg=dict(data=confident_gt))
            ])
            self.results[-1] = (self.results[-1], num_evaluated)

    def compute_metrics(self, results: list) -> Dict[str, Any]:
        """Score the summed confusion matrix of the confident pixels."""
        num_classes = self.num_classes
        counts, num_evaluated = zip(*results) if results else ((), ())
        self.confusion_matrix = sum_sparse_counts(
            list(counts), num_classes * num_classes).reshape(
                num_classes, num_classes)
        scores = class_scores(self.confusion_matrix, self.nan_policy)
        self.log_class_table(
            scores, 'Per-class results on the confident pixels (nan policy '
            f'{self.nan_policy}):')
        self.save_array('conf_confusion_matrix.npy', self.confusion_matrix)
        num_confident = int(self.confusion_matrix.sum())
        total = sum(num_evaluated)
        return dict(
            precision=float(100 * scores['aAcc']),
            coverage=float(100 * num_confident / total) if total else np.nan,
            mIoU=float(100 * scores['mIoU']),
            mPrecision=float(100 * scores['mPrecision']),
            mRecall=float(100 * scores['mRecall']),
            nan_policy=self.nan_policy)
