"""Confusion-matrix helpers shared by the segmentation and CAM metrics.

Convention: a confusion matrix ``C`` of shape (K, K) counts the pixels whose
ground truth is class ``i`` (row) and whose prediction is class ``j``
(column). Stacks of shape (..., K, K) are reduced over the last two axes.

Per-image counts are kept sparse: ``(cells, counts)`` with the flat indices of
the non-zero cells and their pixel counts, so that per-sample results stay
small when gathered across ranks.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

NAN_POLICIES = ('plain', 'nanmean', 'present_in_gt')

SparseCounts = Tuple[np.ndarray, np.ndarray]


def check_nan_policy(nan_policy: str) -> str:
    """Return ``nan_policy`` if it is one of :data:`NAN_POLICIES`."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f'nan_policy must be one of {NAN_POLICIES}, '
                         f'got {nan_policy!r}')
    return nan_policy


def check_label_range(labels: Tensor, num_classes: int, name: str,
                      hint: str = '') -> None:
    """Raise a ValueError naming ``name`` if any value of ``labels`` is
    outside [0, num_classes); ``hint`` ends the message."""
    if labels.numel() == 0:
        return
    low, high = torch.aminmax(labels)
    if int(low) < 0 or int(high) >= num_classes:
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(
            f'{name} holds values {torch.unique(bad)[:10].tolist()} outside '
            f'[0, {num_classes}) (num_classes={num_classes}){hint}')


def valid_gt(gt: Tensor, num_classes: int,
             ignore_index: int) -> Tuple[Tensor, Tensor]:
    """Flatten the ground truth and mark the pixels that are evaluated.

    Args:
        gt (Tensor): (H, W) or (1, H, W) integer ground truth.
        num_classes (int): K, including background.
        ignore_index (int): Ground-truth value of pixels to skip.

    Returns:
        tuple: ``valid`` bool (H*W,) and the ground truth int64 (H*W,) with
        ignored pixels set to 0, checked to lie in [0, K).
    """
    gt = gt.reshape(-1).long()
    valid = gt != ignore_index
    gt = torch.where(valid, gt, 0)
    check_label_range(gt, num_classes, 'ground truth',
                      f'; ignored pixels must be {ignore_index}')
    return valid, gt


def confusion_cells(gt: Tensor, pred: Tensor, num_classes: int,
                    ignore_index: int = 255) -> Tensor:
    """Flat confusion-matrix cell ``gt * K + pred`` of every pixel; ignored
    pixels get the cell K * K, one past the matrix.

    Args:
        gt (Tensor): (H, W) or (1, H, W) ground-truth ids.
        pred (Tensor): predicted ids in [0, K) (checked where the ground
            truth is not ignored), same number of pixels as ``gt``.
        num_classes (int): K.
        ignore_index (int): Ground-truth value to skip.

    Returns:
        Tensor: int64 (H*W,) cells in [0, K * K].
    """
    valid, gt = valid_gt(gt, num_classes, ignore_index)
    pred = torch.where(valid, pred.reshape(-1).long(), 0)
    check_label_range(
        pred, num_classes, 'prediction',
        '; SegIoUMetric(pred_void_as=...) maps void predictions to a class')
    return torch.where(valid, gt * num_classes + pred,
                       num_classes * num_classes)


def confusion_matrix(gt: Tensor, pred: Tensor, num_classes: int,
                     ignore_index: int = 255) -> Tensor:
    """Dense int64 confusion matrix (K, K) of one label-map pair (arguments
    as in :func:`confusion_cells`)."""
    size = num_classes * num_classes
    cells = confusion_cells(gt, pred, num_classes, ignore_index)
    return torch.bincount(cells, minlength=size + 1)[:size].reshape(
        num_classes, num_classes)


def compact_int(values: np.ndarray) -> np.ndarray:
    """Cast non-negative integers to int32 when they fit, else int64."""
    if values.size and values.max() >= np.iinfo(np.int32).max:
        return values.astype(np.int64)
    return values.astype(np.int32)


def sparse_bincount(cells: Tensor, size: int) -> SparseCounts:
    """Count the values of ``cells`` (N,) in [0, size) and keep the non-zero
    ones; the value ``size`` marks pixels to leave out.

    Returns:
        tuple: ``(cells, counts)`` numpy arrays (M,) on the CPU (int32 when the
        values fit), sorted by cell.
    """
    counts = torch.bincount(cells, minlength=size + 1)[:size]
    nonzero = torch.nonzero(counts).flatten()
    return (compact_int(nonzero.cpu().numpy()),
            compact_int(counts[nonzero].cpu().numpy()))


def sum_sparse_counts(results: Sequence[SparseCounts],
                      size: int) -> np.ndarray:
    """Sum per-image sparse counts into a dense int64 array (size,)."""
    total = np.zeros(size, dtype=np.int64)
    if results:
        cells = np.concatenate([cells for cells, _ in results])
        counts = np.concatenate([counts for _, counts in results])
        np.add.at(total, cells.astype(np.int64), counts.astype(np.int64))
    return total


def _masked_mean(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``scores`` (..., K) over the classes where ``mask`` holds;
    nan where no class does."""
    count = mask.sum(-1)
    total = np.where(mask, scores, 0.).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def class_scores(confusion: np.ndarray,
                 nan_policy: str = 'plain') -> Dict[str, np.ndarray]:
    """Per-class IoU, precision and recall and their class means.

    ``IoU_c = TP / (TP + FP + FN)``, ``Precision_c = TP / (TP + FP)``,
    ``Recall_c = TP / (TP + FN)``. The nan policy decides what happens to a
    score whose denominator is 0 (a class absent from both ground truth and
    prediction, for IoU) and which classes the mean runs over:

    * ``'plain'``: 0/0 counts as 0, mean over all K classes (PSA, SEAM, KTSE
      and AEFT evaluators).
    * ``'nanmean'``: 0/0 is nan and skipped by the mean (IRN, chainercv).
    * ``'present_in_gt'``: mean over the classes with ground-truth pixels
      (BECO); 0/0 is nan and skipped.

    Args:
        confusion (np.ndarray): (..., K, K) counts, rows = ground truth.
        nan_policy (str): One of :data:`NAN_POLICIES`.

    Returns:
        dict: ``IoU``, ``Precision``, ``Recall`` (..., K) and ``mIoU``,
        ``mPrecision``, ``mRecall``, ``aAcc`` (...), all fractions in [0, 1].
    """
    check_nan_policy(nan_policy)
    confusion = np.asarray(confusion, dtype=np.int64)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    gt_area = confusion.sum(-1)
    pred_area = confusion.sum(-2)
    denominators = dict(
        IoU=gt_area + pred_area - tp, Precision=pred_area, Recall=gt_area)
    class_set = (gt_area > 0 if nan_policy == 'present_in_gt' else
                 np.ones_like(gt_area, dtype=bool))
    scores = {}
    for name, denominator in denominators.items():
        defined = denominator > 0
        score = np.where(defined, tp / np.maximum(denominator, 1), np.nan)
        if nan_policy == 'plain':
            score = np.nan_to_num(score, nan=0.)
            defined = np.ones_like(defined)
        scores[name] = score
        scores[f'm{name}'] = _masked_mean(score, defined & class_set)
    total = confusion.sum((-2, -1))
    scores['aAcc'] = np.where(total > 0, tp.sum(-1) / np.maximum(total, 1),
                              np.nan)
    return scores


def format_class_table(class_names: Sequence[str],
                       columns: Dict[str, np.ndarray]) -> str:
    """Render per-class fractions (K,) as a text table in percent."""
    headers = ['Class'] + list(columns)
    rows = [[name] + [f'{100 * values[i]:.2f}' for values in columns.values()]
            for i, name in enumerate(class_names)]
    widths = [max(len(row[j]) for row in [headers] + rows)
              for j in range(len(headers))]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(cells):
        return '| ' + ' | '.join(
            cell.ljust(w) if j == 0 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(cells, widths))) + ' |'

    return '\n'.join([rule, line(headers), rule] + [line(r) for r in rows] +
                     [rule])
