"""mIoU of predicted label maps from an int64 confusion matrix."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from wsstool.fileio import atomic_write
from wsstool.registry import METRICS
from ..functional import (check_nan_policy, class_scores, confusion_cells,
                          format_class_table, sparse_bincount,
                          sum_sparse_counts)

SUMMARY_KEYS = ('mIoU', 'mPrecision', 'mRecall', 'aAcc')


class BaseIoUMetric(BaseMetric):
    """Set-up shared by the confusion-matrix metrics.

    Args:
        num_classes (int, optional): K, background included. Defaults to the
            length of ``dataset_meta['classes']``.
        ignore_index (int): Ground-truth value left out of the evaluation.
            Defaults to 255.
        nan_policy (str): ``'plain'``, ``'nanmean'`` or ``'present_in_gt'``
            (see :func:`wsstool.evaluation.functional.class_scores`).
            Defaults to ``'plain'``.
        output_dir (str, optional): Folder the main process writes the
            metric's files to. Defaults to None (nothing written).
        collect_device (str): See :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): Prefix of the metric keys. Defaults to
            ``default_prefix``.
        collect_dir (str, optional): See
            :class:`mmengine.evaluator.BaseMetric`.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 nan_policy: str = 'plain',
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self._num_classes = num_classes
        self.ignore_index = ignore_index
        self.nan_policy = check_nan_policy(nan_policy)
        self.output_dir = output_dir

    @property
    def num_classes(self) -> int:
        """K: the ``num_classes`` argument or the dataset's class count."""
        classes = (self.dataset_meta or {}).get('classes')
        if self._num_classes is None:
            if classes is None:
                raise ValueError(
                    f'{type(self).__name__} needs num_classes or '
                    "dataset_meta['classes']")
            return len(classes)
        if classes is not None and len(classes) != self._num_classes:
            raise ValueError(
                f'{type(self).__name__}: num_classes={self._num_classes} '
                f"but dataset_meta['classes'] has {len(classes)} names")
        return self._num_classes

    @property
    def class_names(self) -> List[str]:
        """Names from ``dataset_meta['classes']``, else the class ids."""
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            return [str(i) for i in range(self.num_classes)]
        return list(classes)

    def output_path(self, filename: str) -> Optional[str]:
        """``output_dir/filename``, or None without an ``output_dir``."""
        if self.output_dir is None:
            return None
        return osp.join(self.output_dir, filename)

    def save_array(self, filename: str, array: np.ndarray) -> None:
        """Save ``array`` as ``output_dir/filename`` (.npy) if an
        ``output_dir`` is set."""
        path = self.output_path(filename)
        if path is not None:
            with atomic_write(path) as f:
                np.save(f, array)

    def log_class_table(self, scores: Dict[str, np.ndarray],
                        title: str) -> None:
        """Log per-class IoU, precision and recall (K,) in percent."""
        table = format_class_table(
            self.class_names,
            {name: scores[name]
             for name in ('IoU', 'Precision', 'Recall')})
        print_log(f'{title}\n{table}', logger='current')

    def summary(self, scores: Dict[str, np.ndarray]) -> Dict[str, Any]:
        """Metric values: the :data:`SUMMARY_KEYS` of one set of scores in
        percent, and the nan policy."""
        metrics: Dict[str, Any] = {
            name: float(100 * scores[name])
            for name in SUMMARY_KEYS
        }
        metrics['nan_policy'] = self.nan_policy
        return metrics

    @staticmethod
    def sample_name(sample: dict) -> str:
        """How error messages name a sample."""
        return f"image {sample.get('img_id', sample.get('img_path', '?'))}"


@METRICS.register_module()
class SegIoUMetric(BaseIoUMetric):
    """mIoU, precision and recall of predicted label maps.

    Each sample (a dict, as mmengine passes them) needs
    ``pred_sem_seg['data']`` and ``gt_sem_seg['data']``: integer (1, H, W)
    maps at the same (original) resolution. Every image adds its own sparse
    confusion matrix to ``self.results``, so gathering across ranks (which
    drops the padded duplicates sample by sample) gives exactly the
    single-process result.

    After :meth:`compute_metrics`, ``confusion_matrix`` holds the summed
    int64 (K, K) matrix (rows = ground truth); with ``output_dir`` it is also
    saved as ``seg_confusion_matrix.npy``.

    Args:
        pred_void_as (int, optional): Class id given to predicted pixels
            equal to ``ignore_index`` (IR labels mark unsure pixels 255;
            IRN's ``eval_sem_seg`` counts them as background, 0). None: such
            predictions are an error.
        **kwargs: See :class:`BaseIoUMetric`.

    Metric keys: ``mIoU``, ``mPrecision``, ``mRecall``, ``aAcc`` (percent)
    and ``nan_policy``.
    """

    default_prefix = 'seg'

    def __init__(self, pred_void_as: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pred_void_as = pred_void_as
        self.confusion_matrix: Optional[np.ndarray] = None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the sparse confusion matrix of every sample."""
        num_classes = self.num_classes
        for sample in data_samples:
            gt = sample['gt_sem_seg']['data']
            pred = sample['pred_sem_seg']['data'].to(gt.device)
            if pred.shape[-2:] != gt.shape[-2:]:
                raise ValueError(
                    f'{self.sample_name(sample)}: prediction of size '
                    f'{tuple(pred.shape[-2:])} but ground truth of size '
                    f'{tuple(gt.shape[-2:])}; predictions must be at the '
                    'original resolution')
            if self.pred_void_as is not None:
                pred = torch.where(pred == self.ignore_index,
                                   self.pred_void_as, pred)
            try:
                cells = confusion_cells(gt, pred, num_classes,
                                        self.ignore_index)
            except ValueError as error:
                raise ValueError(f'{self.sample_name(sample)}: {error}') \
                    from error
            self.results.append(
                sparse_bincount(cells, num_classes * num_classes))

    def compute_metrics(self, results: list) -> Dict[str, Any]:
        """Sum the per-image matrices and score them."""
        num_classes = self.num_classes
        self.confusion_matrix = sum_sparse_counts(
            results, num_classes * num_classes).reshape(
                num_classes, num_classes)
        scores = class_scores(self.confusion_matrix, self.nan_policy)
        self.log_class_table(
            scores, f'Per-class results (nan policy {self.nan_policy}):')
        self.save_array('seg_confusion_matrix.npy', self.confusion_matrix)
        return self.summary(scores)
