import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData

from wsstool.evaluation import SegIoUMetric, class_scores
from wsstool.evaluation.functional import format_class_table
from wsstool.registry import METRICS
from wsstool.structures import WSSSDataSample


def seg_sample(gt, pred) -> dict:
    return dict(
        gt_sem_seg=dict(data=torch.as_tensor(gt)[None]),
        pred_sem_seg=dict(data=torch.as_tensor(pred)[None]))


def naive_confusion(pairs, num_classes, ignore_index=255) -> np.ndarray:
    """Pixel-by-pixel confusion matrix (rows = ground truth)."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for gt, pred in pairs:
        for g, p in zip(np.ravel(gt).tolist(), np.ravel(pred).tolist()):
            if g != ignore_index:
                confusion[g, p] += 1
    return confusion


def naive_miou(confusion, nan_policy) -> float:
    """Mean IoU written out class by class."""
    ious = []
    for c in range(len(confusion)):
        tp = confusion[c, c]
        fp = confusion[:, c].sum() - tp
        fn = confusion[c, :].sum() - tp
        if nan_policy == 'present_in_gt' and tp + fn == 0:
            continue
        if tp + fp + fn == 0:
            if nan_policy == 'plain':
                ious.append(0.)
            continue
        ious.append(tp / (tp + fp + fn))
    return float(np.mean(ious))


# 2x3 maps; the last ground-truth pixel is ignored. With 5 classes:
# confusion [[1, 0, 0, 0, 1], [0, 2, 0, 0, 0], [0, 1, 0, 0, 0], 0, 0];
# IoU = (1/2, 2/3, 0, 0/0, 0), precision = (1, 2/3, 0/0, 0/0, 0),
# recall = (1/2, 1, 0, 0/0, 0/0).
GT = [[0, 0, 1], [1, 2, 255]]
PRED = [[0, 4, 1], [1, 1, 2]]
HAND = {
    'plain': dict(mIoU=7 / 30, mPrecision=1 / 3, mRecall=0.3),
    'nanmean': dict(mIoU=7 / 24, mPrecision=5 / 9, mRecall=0.5),
    'present_in_gt': dict(mIoU=7 / 18, mPrecision=5 / 6, mRecall=0.5),
}


@pytest.mark.parametrize('nan_policy', sorted(HAND))
def test_hand_computed_case(nan_policy):
    metric = SegIoUMetric(num_classes=5, nan_policy=nan_policy)
    metric.process(None, [seg_sample(GT, PRED)])
    metrics = metric.evaluate(1)
    for name, value in HAND[nan_policy].items():
        assert metrics[f'seg/{name}'] == pytest.approx(100 * value)
    assert metrics['seg/aAcc'] == pytest.approx(60.)
    assert metrics['seg/nan_policy'] == nan_policy
    np.testing.assert_array_equal(
        metric.confusion_matrix,
        [[1, 0, 0, 0, 1], [0, 2, 0, 0, 0], [0, 1, 0, 0, 0], [0] * 5, [0] * 5])
    assert metric.confusion_matrix.dtype == np.int64


def test_class_scores_per_class_values():
    confusion = naive_confusion([(GT, PRED)], 5)
    plain = class_scores(confusion, 'plain')
    np.testing.assert_allclose(plain['IoU'], [0.5, 2 / 3, 0, 0, 0])
    np.testing.assert_allclose(plain['Recall'], [0.5, 1, 0, 0, 0])
    nanmean = class_scores(confusion, 'nanmean')
    np.testing.assert_allclose(nanmean['Precision'],
                               [1, 2 / 3, np.nan, np.nan, 0])
    stacked = class_scores(np.stack([confusion, np.eye(5, dtype=int)]),
                           'nanmean')
    np.testing.assert_allclose(stacked['mIoU'], [7 / 24, 1.])
    with pytest.raises(ValueError, match='nan_policy'):
        class_scores(confusion, 'mean')


@pytest.mark.parametrize('nan_policy', ['plain', 'nanmean', 'present_in_gt'])
def test_matches_naive_loop_on_random_maps(nan_policy):
    rng = np.random.default_rng(0)
    num_classes = 6
    pairs = []
    for height, width in [(7, 9), (5, 4), (8, 8)]:
        # classes 4 and 5 never occur in the ground truth, 5 is predicted
        gt = rng.integers(0, 4, (height, width))
        gt[rng.random((height, width)) < 0.2] = 255
        pred = rng.integers(0, 6, (height, width))
        pred[pred == 4] = 0
        pairs.append((gt, pred))
    metric = SegIoUMetric(num_classes=num_classes, nan_policy=nan_policy)
    metric.process(None, [seg_sample(gt, pred) for gt, pred in pairs])
    metrics = metric.evaluate(len(pairs))
    confusion = naive_confusion(pairs, num_classes)
    np.testing.assert_array_equal(metric.confusion_matrix, confusion)
    assert metrics['seg/mIoU'] == pytest.approx(
        100 * naive_miou(confusion, nan_policy))


def test_evaluator_keeps_per_image_results_and_drops_padding(tmp_path):
    rng = np.random.default_rng(1)
    maps = [(rng.integers(0, 3, (6, 5)), rng.integers(0, 3, (6, 5)))
            for _ in range(3)]
    metric = METRICS.build(
        dict(type='SegIoUMetric', output_dir=str(tmp_path)))
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=('background', 'cat', 'dog'))
    samples = []
    for gt, pred in maps:
        sample = WSSSDataSample(metainfo=dict(img_id='x'))
        sample.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
        sample.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
        samples.append(sample)
    evaluator.process(samples[:2])
    # the third sample plays a duplicate added by a padded distributed
    # sampler: evaluate(size=2) must drop it
    evaluator.process(samples[2:])
    metrics = evaluator.evaluate(2)
    confusion = naive_confusion(maps[:2], 3)
    np.testing.assert_array_equal(metric.confusion_matrix, confusion)
    np.testing.assert_array_equal(
        np.load(osp.join(tmp_path, 'seg_confusion_matrix.npy')), confusion)
    assert metrics['seg/mIoU'] == pytest.approx(
        100 * naive_miou(confusion, 'plain'))
    assert len(metric.results) == 0


def test_results_are_sparse_and_compact():
    metric = SegIoUMetric(num_classes=81)
    gt = np.zeros((20, 30), dtype=np.int64)
    gt[:5] = 80
    metric.process(None, [seg_sample(gt, np.zeros_like(gt))])
    cells, counts = metric.results[0]
    np.testing.assert_array_equal(cells, [0, 80 * 81])
    np.testing.assert_array_equal(counts, [450, 150])
    assert cells.dtype == counts.dtype == np.int32


def test_ignore_index_and_void_predictions():
    metric = SegIoUMetric(num_classes=2, ignore_index=7)
    metric.process(None, [seg_sample([[0, 1, 7]], [[1, 1, 0]])])
    metric.evaluate(1)
    np.testing.assert_array_equal(metric.confusion_matrix, [[0, 1], [0, 1]])

    gt, pred = [[0, 1, 255]], [[255, 1, 1]]
    with pytest.raises(ValueError, match='prediction holds values \\[255\\]'
                       '.*pred_void_as'):
        SegIoUMetric(num_classes=2).process(None, [seg_sample(gt, pred)])
    metric = SegIoUMetric(num_classes=2, pred_void_as=0)
    metric.process(None, [seg_sample(gt, pred)])
    metric.evaluate(1)
    np.testing.assert_array_equal(metric.confusion_matrix, [[1, 0], [0, 1]])


def test_bad_input_errors():
    metric = SegIoUMetric(num_classes=3)
    with pytest.raises(ValueError, match='image a.*ground truth holds '
                       'values \\[3\\]'):
        metric.process(None, [
            dict(seg_sample([[0, 3]], [[0, 0]]), img_id='a')])
    with pytest.raises(ValueError, match='prediction of size \\(1, 3\\)'):
        metric.process(None, [seg_sample([[0, 1]], [[0, 0, 0]])])
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError, match='num_classes=3'):
        metric.process(None, [seg_sample([[0, 1]], [[0, 0]])])
    with pytest.raises(ValueError, match='needs num_classes'):
        SegIoUMetric().process(None, [seg_sample([[0, 1]], [[0, 0]])])
    with pytest.raises(ValueError, match='nan_policy'):
        SegIoUMetric(nan_policy='ignore')


def test_format_class_table():
    table = format_class_table(['background', 'cat'], {
        'IoU': np.array([0.5, np.nan]),
        'Recall': np.array([1., 0.25])
    })
    lines = table.splitlines()
    assert lines[1].split() == ['|', 'Class', '|', 'IoU', '|', 'Recall', '|']
    assert lines[3].split() == ['|', 'background', '|', '50.00', '|',
                                '100.00', '|']
    assert lines[4].split() == ['|', 'cat', '|', 'nan', '|', '25.00', '|']
