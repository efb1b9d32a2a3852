import numpy as np
import pytest
import torch

from wsstool.evaluation import ConfidenceMaskMetric


def _sample(gt, pred, mask):
    return dict(
        gt_sem_seg=dict(data=torch.tensor(gt)[None]),
        pred_sem_seg=dict(data=torch.tensor(pred)[None]),
        conf_mask=dict(data=torch.tensor(mask)[None]))


def test_precision_and_coverage_of_the_confident_pixels():
    gt = [[0, 0, 1, 1], [0, 255, 1, 2]]
    pred = [[0, 1, 1, 1], [0, 0, 2, 2]]
    mask = [[True, True, False, True], [False, True, True, True]]
    metric = ConfidenceMaskMetric(num_classes=3, nan_policy='nanmean')
    metric.process(None, [_sample(gt, pred, mask)])
    result = metric.compute_metrics(metric.results)
    # confident, evaluated pixels: (0,0) 0->0 ok, (0,1) 0->1 wrong,
    # (0,3) 1->1 ok, (1,2) 1->2 wrong, (1,3) 2->2 ok; (1,1) is ignored
    assert result['precision'] == pytest.approx(100 * 3 / 5)
    assert result['coverage'] == pytest.approx(100 * 5 / 7)
    confusion = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(metric.confusion_matrix, confusion)
    iou = [1 / 2, 1 / 3, 1 / 2]
    assert result['mIoU'] == pytest.approx(100 * np.mean(iou))


def test_results_add_up_over_images_and_sizes_must_match():
    metric = ConfidenceMaskMetric(num_classes=2)
    metric.process(None, [_sample([[0, 1]], [[0, 0]], [[True, True]])])
    metric.process(None, [_sample([[1, 1]], [[1, 1]], [[False, True]])])
    result = metric.compute_metrics(metric.results)
    assert result['precision'] == pytest.approx(100 * 2 / 3)
    assert result['coverage'] == pytest.approx(100 * 3 / 4)
    with pytest.raises(ValueError, match='confidence mask of size'):
        metric.process(None, [_sample([[0, 1]], [[0, 0]], [[True]])])
