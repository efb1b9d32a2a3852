"""CAM (seed) mIoU over a sweep of constant background thresholds, computed
in a single pass over the data."""
import json
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor

from wsstool.fileio import atomic_write
from wsstool.models.utils.cam_ops import CAM_NORMS
from wsstool.registry import METRICS
from ..functional import (SparseCounts, class_scores, compact_int,
                          sparse_bincount, sum_sparse_counts, valid_gt)
from .seg_iou import SUMMARY_KEYS, BaseIoUMetric

DEFAULT_THRESHOLDS = dict(start=0.0, stop=0.6, step=0.01)

Thresholds = Union[None, dict, Sequence[float]]


def threshold_grid(thresholds: Thresholds = None) -> np.ndarray:
    """Background thresholds of a sweep, float64 (T,), strictly increasing.

    Args:
        thresholds: None for ``DEFAULT_THRESHOLDS`` (0.00 to 0.60 by 0.01),
            ``dict(start=, stop=, step=)`` with ``stop`` included, or an
            explicit increasing sequence.
    """
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS
    if isinstance(thresholds, dict):
        if set(thresholds) != {'start', 'stop', 'step'}:
            raise ValueError('a threshold range needs exactly the keys '
                             f"start, stop, step; got {sorted(thresholds)}")
        start, stop, step = (float(thresholds[k])
                             for k in ('start', 'stop', 'step'))
        if step <= 0 or stop < start:
            raise ValueError('a threshold range needs step > 0 and stop >= '
                             f'start; got {thresholds}')
        count = int(np.floor((stop - start) / step + 1e-9)) + 1
        grid = np.round(start + step * np.arange(count), 10)
    else:
        grid = np.asarray(thresholds, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0:
            raise ValueError('thresholds must be a non-empty list of '
                             f'numbers; got {thresholds!r}')
    if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError('thresholds must be finite and strictly increasing;'
                         f' got {grid.tolist()}')
    return grid


def sweep_histogram(cam: Tensor, keys: Tensor, gt: Tensor,
                    thresholds: Tensor, num_classes: int,
                    ignore_index: int) -> SparseCounts:
    """Histogram of one image for the single-pass threshold sweep.

    Decision rule at threshold ``t``: a pixel is foreground class
    ``keys[a] + 1`` if its largest CAM value ``m = cam[a]`` is > ``t``
    (ties between CAMs go to the first), background (0) otherwise. With
    ``b`` the number of thresholds strictly below ``m``, the pixel is
    foreground exactly at the thresholds ``t_j`` with ``j < b``; so counting
    pixels by (ground-truth class g, candidate class keys[a] + 1, bin b)
    determines the confusion matrix at every threshold (see
    :func:`sweep_confusions`). An image without CAMs counts its pixels in
    (g, 0, 0). Counting runs over the classes present in the image only.
    Comparisons are made in float32 (as numpy compares a float32 CAM with a
    Python float), so a CAM value equal to float32(t) is background.

    Args:
        cam (Tensor): (K, H, W) float CAMs of the classes ``keys``.
        keys (Tensor): (K,) foreground class indices in [0, num_classes - 1).
        gt (Tensor): (H, W) or (1, H, W) ground truth, ``ignore_index``
            skipped.
        thresholds (Tensor): (T,) float32 increasing, on ``cam``'s device.
        num_classes (int): N, background included.
        ignore_index (int): Ground-truth value to skip.

    Returns:
        tuple: sparse counts over the flat cells
        ``(g * N + c) * (T + 1) + b`` of an (N, N, T + 1) histogram.
    """
    valid, gt = valid_gt(gt, num_classes, ignore_index)
    num_bins = thresholds.numel() + 1
    num_keys = keys.numel()
    present = torch.nonzero(
        torch.bincount(
            torch.where(valid, gt, num_classes),
            minlength=num_classes + 1)[:num_classes]).flatten()
    local_gt = torch.zeros(num_classes, dtype=torch.long, device=gt.device)
    local_gt[present] = torch.arange(present.numel(), device=gt.device)
    if num_keys:
        peak, peak_index = cam.max(0)
        bins = torch.searchsorted(thresholds, peak.reshape(-1).float())
        candidate = peak_index.reshape(-1) + 1
    else:
        bins = candidate = 0
    size = present.numel() * (num_keys + 1) * num_bins
    local = ((local_gt.index_select(0, gt) *
              (num_keys + 1) + candidate) * num_bins + bins)
    local_cells, counts = sparse_bincount(
        torch.where(valid, local, size), size)
    gt_local, rest = np.divmod(local_cells, (num_keys + 1) * num_bins)
    candidate_local, bin_index = np.divmod(rest, num_bins)
    candidate_class = np.concatenate(
        [[0], keys.cpu().numpy().astype(np.int64) + 1])
    gt_class = present.cpu().numpy()
    cells = ((gt_class[gt_local] * num_classes +
              candidate_class[candidate_local]) * num_bins + bin_index)
    return compact_int(cells), counts


def sweep_confusions(histogram: np.ndarray) -> np.ndarray:
    """Confusion matrices (T, N, N) at every threshold from the summed
    histogram (N, N, T + 1) of :func:`sweep_histogram`.

    At threshold ``j`` the foreground pixels of candidate class c are those
    with bin b > j (a reversed cumulative sum over bins); the rest of each
    ground-truth row is background.
    """
    at_least = np.flip(np.cumsum(np.flip(histogram, -1), -1), -1)
    confusions = np.ascontiguousarray(np.moveaxis(at_least[..., 1:], -1, 0))
    confusions[..., 0] = (histogram.sum((1, 2))[None, :] -
                          confusions[..., 1:].sum(-1))
    return confusions


@METRICS.register_module()
class CAMIoUMetric(BaseIoUMetric):
    """Seed mIoU of CAMs over a sweep of constant background thresholds.

    Each sample (a dict) needs ``pred_cam`` with ``cam`` (K, H, W) float at
    the ground-truth resolution and ``class_ids`` (K,) int64 foreground class
    indices, and ``gt_sem_seg['data']`` (1, H, W). Decision rule
    ``'constant'``: background score = threshold t; a pixel takes class
    ``class_ids[a] + 1`` if its largest CAM ``cam[a]`` exceeds t, else background
    (ties, compared in float32, go to background). All thresholds are
    scored in one pass (:func:`sweep_histogram`), each image adding a sparse
    histogram to ``self.results`` (exact across ranks, like
    :class:`SegIoUMetric`).

    After :meth:`compute_metrics`: ``thresholds`` (T,), ``confusion_matrices``
    int64 (T, N, N) and ``confusion_matrix`` (N, N) at the best threshold;
    with ``output_dir`` the curve is written to ``cam_iou_curve.json`` and
    the (T, K, K) confusion matrices to ``cam_confusion_matrices.npy``.

    Args:
        thresholds (dict | Sequence[float], optional): The sweep, see
            :func:`threshold_grid`. Defaults to 0.00 to 0.60 by 0.01.
        cam_norm (str): How the CAMs were normalised, one of
            :data:`~wsstool.models.utils.CAM_NORMS`: ``'max'`` (PSA, IRN,
            KTSE, AEFT) or ``'minmax_infer'`` (SEAM, PPC inference). Recorded
            in the result only; it does not change the computation.
            Defaults to ``'max'``.
        **kwargs: See :class:`BaseIoUMetric`.

    Metric keys: ``mIoU``, ``mPrecision``, ``mRecall``, ``aAcc`` (percent,
    at the best threshold; ties go to the lowest threshold),
    ``best_threshold``, ``decision_rule``, ``cam_norm`` and ``nan_policy``.
    The whole curve is logged, kept as ``metric.miou_curve`` (dict threshold
    -> mIoU) and written to ``output_dir``.
    """

    default_prefix = 'cam'
    decision_rule = 'constant'

    def __init__(self,
                 thresholds: Thresholds = None,
                 cam_norm: str = 'max',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if cam_norm not in CAM_NORMS:
            raise ValueError(
                f'cam_norm must be one of {CAM_NORMS}, got {cam_norm!r}')
        self.cam_norm = cam_norm
        self.thresholds = threshold_grid(thresholds)
        self.confusion_matrices: Optional[np.ndarray] = None
        self.miou_curve: Optional[Dict[str, float]] = None
        self.confusion_matrix: Optional[np.ndarray] = None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the sparse sweep histogram of every sample."""
        num_classes = self.num_classes
        for sample in data_samples:
            cam = sample['pred_cam']['cam']
            keys = torch.as_tensor(
                sample['pred_cam']['class_ids']).reshape(-1)
            gt = sample['gt_sem_seg']['data'].to(cam.device)
            try:
                self._check_cam(cam, keys, gt.shape[-2:], num_classes)
                thresholds = torch.as_tensor(
                    self.thresholds, dtype=torch.float32, device=cam.device)
                self.results.append(
                    sweep_histogram(cam, keys.to(cam.device), gt, thresholds,
                                    num_classes, self.ignore_index))
            except ValueError as error:
                raise ValueError(f'{self.sample_name(sample)}: {error}') \
                    from error

    @staticmethod
    def _check_cam(cam: Tensor, keys: Tensor, size: torch.Size,
                   num_classes: int) -> None:
        if cam.ndim != 3 or cam.shape[0] != keys.numel():
            raise ValueError(
                f'pred_cam has cam of shape {tuple(cam.shape)} for '
                f'{keys.numel()} class_ids; expected (K, H, W) with '
                'K = len(class_ids)')
        if keys.numel() and cam.shape[1:] != size:
            raise ValueError(
                f'cam of size {tuple(cam.shape[1:])} but ground truth of '
                f'size {tuple(size)}; CAMs must be at the ground-truth '
                'resolution')
        if keys.numel() and (keys.min() < 0 or keys.max() >= num_classes - 1):
            raise ValueError(
                f'pred_cam class_ids {keys.tolist()} must be foreground indices in '
                f'[0, {num_classes - 1})')

    def compute_metrics(self, results: list) -> Dict[str, Any]:
        """Score every threshold and report the best one."""
        num_classes = self.num_classes
        num_bins = len(self.thresholds) + 1
        histogram = sum_sparse_counts(
            results, num_classes * num_classes * num_bins).reshape(
                num_classes, num_classes, num_bins)
        self.confusion_matrices = sweep_confusions(histogram)
        scores = class_scores(self.confusion_matrices, self.nan_policy)
        best = int(np.argmax(np.nan_to_num(scores['mIoU'], nan=-1.)))
        best_threshold = float(self.thresholds[best])
        self.confusion_matrix = self.confusion_matrices[best]
        best_scores = {name: values[best] for name, values in scores.items()}
        curve = {
            f'{t:g}': round(float(100 * v), 2)
            for t, v in zip(self.thresholds, scores['mIoU'])
        }
        self.miou_curve = curve
        self.log_class_table(
            best_scores,
            f'CAM results at the best background threshold {best_threshold:g}'
            f' (decision rule {self.decision_rule}, cam_norm {self.cam_norm},'
            f' nan policy {self.nan_policy}):')
        print_log(f'mIoU per threshold: {curve}', logger='current')
        self._write_curve(scores, best)
        self.save_array('cam_confusion_matrices.npy', self.confusion_matrices)
        metrics = self.summary(best_scores)
        metrics.update(
            best_threshold=best_threshold,
            decision_rule=self.decision_rule,
            cam_norm=self.cam_norm)
        return metrics

    def _write_curve(self, scores: Dict[str, np.ndarray], best: int) -> None:
        """Write the sweep to ``output_dir/cam_iou_curve.json``."""
        path = self.output_path('cam_iou_curve.json')
        if path is None:
            return

        def percent(values: np.ndarray) -> list:
            return [None if np.isnan(v) else float(100 * v)
                    for v in np.atleast_1d(values)]

        curve = dict(
            decision_rule=self.decision_rule,
            cam_norm=self.cam_norm,
            nan_policy=self.nan_policy,
            ignore_index=self.ignore_index,
            thresholds=self.thresholds.tolist(),
            best_threshold=float(self.thresholds[best]),
            **{name: percent(scores[name])
               for name in SUMMARY_KEYS},
            per_class_at_best={
                name: dict(zip(self.class_names, percent(scores[name][best])))
                for name in ('IoU', 'Precision', 'Recall')
            })
        with atomic_write(path, 'w') as f:
            json.dump(curve, f, indent=2)
