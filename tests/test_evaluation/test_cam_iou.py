import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from wsstool.evaluation import CAMIoUMetric, class_scores, threshold_grid
from wsstool.registry import METRICS


def cam_sample(cam, keys, gt) -> dict:
    return dict(
        pred_cam=dict(
            cam=torch.as_tensor(cam, dtype=torch.float32),
            class_ids=torch.as_tensor(keys, dtype=torch.int64)),
        gt_sem_seg=dict(data=torch.as_tensor(gt)[None]))


def recompute_per_threshold(images, thresholds, num_classes,
                            ignore_index=255) -> np.ndarray:
    """Confusion matrices (T, N, N): at every threshold, argmax over
    [background = t, CAMs] (np.argmax takes the first maximum, so ties go to
    background), counted pixel by pixel."""
    confusions = np.zeros((len(thresholds), num_classes, num_classes),
                          dtype=np.int64)
    for cam, keys, gt in images:
        labels = np.concatenate([[0], np.asarray(keys, dtype=np.int64) + 1])
        valid = gt != ignore_index
        for j, t in enumerate(thresholds):
            scores = np.concatenate(
                [np.full((1, ) + gt.shape, t, dtype=np.float32),
                 np.asarray(cam, dtype=np.float32)])
            pred = labels[np.argmax(scores, axis=0)]
            np.add.at(confusions[j], (gt[valid], pred[valid]), 1)
    return confusions


def random_images(rng, num_classes=9):
    """CAMs with values on a 1/8 grid (exact ties with each other and with
    the thresholds) or uniform; one image without CAMs, one without
    evaluated pixels."""
    images = []
    sizes = [(6, 7, 2), (5, 5, 3), (4, 9, 1), (3, 4, 0)]
    for height, width, num_keys in sizes:
        keys = np.sort(rng.choice(num_classes - 1, num_keys, replace=False))
        cam = np.where(
            rng.random((num_keys, height, width)) < 0.5,
            rng.integers(0, 9, (num_keys, height, width)) / 8,
            rng.random((num_keys, height, width))).astype(np.float32)
        present = np.concatenate(
            [[0], keys + 1, rng.choice(num_classes, 1)])
        gt = rng.choice(present, (height, width))
        gt[rng.random((height, width)) < 0.15] = 255
        images.append((cam, keys, gt))
    # an image whose ground truth is ignored everywhere
    images.append((rng.random((1, 2, 3)).astype(np.float32), np.array([1]),
                   np.full((2, 3), 255)))
    return images


THRESHOLDS = [0., 0.125, 0.25, 0.3, 0.5, 0.875, 1.]


@pytest.mark.parametrize('nan_policy', ['plain', 'nanmean', 'present_in_gt'])
def test_single_pass_matches_per_threshold_recomputation(nan_policy):
    images = random_images(np.random.default_rng(0))
    metric = CAMIoUMetric(
        thresholds=THRESHOLDS, num_classes=9, nan_policy=nan_policy)
    metric.process(None, [cam_sample(*image) for image in images])
    metrics = metric.evaluate(len(images))

    expected = recompute_per_threshold(images, THRESHOLDS, 9)
    np.testing.assert_array_equal(metric.confusion_matrices, expected)
    assert metric.confusion_matrices.dtype == np.int64
    curve = [
        100 * class_scores(confusion, nan_policy)['mIoU']
        for confusion in expected
    ]
    best = int(np.argmax(curve))
    assert metrics['cam/mIoU'] == pytest.approx(curve[best])
    assert metrics['cam/best_threshold'] == THRESHOLDS[best]
    assert list(metric.miou_curve.values()) == pytest.approx(
        curve, abs=0.005)
    np.testing.assert_array_equal(metric.confusion_matrix, expected[best])
    assert metrics['cam/nan_policy'] == nan_policy


def test_hand_computed_case():
    # pixel 0: max 0.2 (class 2), gt 0; pixel 1: max 0.5 (class 1), gt 1;
    # pixel 2: both CAMs 0.3 -> class 1 above 0.3, background at 0.3; gt 2;
    # pixel 3: ignored.
    cam = [[[0.1, 0.5, 0.3, 0.0]], [[0.2, 0.4, 0.3, 0.05]]]
    gt = [[0, 1, 2, 255]]
    metric = CAMIoUMetric(thresholds=[0.1, 0.3], num_classes=3)
    metric.process(None, [cam_sample(cam, [0, 1], gt)])
    metrics = metric.evaluate(1)
    np.testing.assert_array_equal(
        metric.confusion_matrices,
        [[[0, 0, 1], [0, 1, 0], [0, 1, 0]], [[1, 0, 0], [0, 1, 0], [1, 0,
                                                                      0]]])
    # t=0.1: IoU (0, 1/2, 0); t=0.3: IoU (1/2, 1, 0), precision (1/2, 1, 0),
    # recall (1, 1, 0)
    assert metric.miou_curve == {'0.1': 16.67, '0.3': 50.}
    assert metrics['cam/mIoU'] == pytest.approx(50.)
    assert metrics['cam/best_threshold'] == 0.3
    assert metrics['cam/mPrecision'] == pytest.approx(50.)
    assert metrics['cam/mRecall'] == pytest.approx(200 / 3)
    assert metrics['cam/decision_rule'] == 'constant'
    assert metrics['cam/cam_norm'] == 'max'


def test_evaluator_run_with_padding_and_curve_file(tmp_path):
    rng = np.random.default_rng(2)
    images = random_images(rng, num_classes=4)
    metric = METRICS.build(
        dict(
            type='CAMIoUMetric',
            thresholds=dict(start=0.1, stop=0.5, step=0.2),
            cam_norm='minmax_infer',
            nan_policy='nanmean',
            output_dir=str(tmp_path)))
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=('bg', 'a', 'b', 'c'))
    # dicts, as Evaluator.process passes them on (a BaseDataElement with a
    # field named ``keys`` cannot be converted by ``to_dict``)
    evaluator.process([cam_sample(*image) for image in images])
    # the last image plays a padded duplicate: evaluate(size) drops it
    metrics = evaluator.evaluate(len(images) - 1)

    thresholds = [0.1, 0.3, 0.5]
    expected = recompute_per_threshold(images[:-1], thresholds, 4)
    np.testing.assert_array_equal(metric.confusion_matrices, expected)
    np.testing.assert_array_equal(metric.thresholds, thresholds)
    with open(osp.join(tmp_path, 'cam_iou_curve.json')) as f:
        curve = json.load(f)
    scores = class_scores(expected, 'nanmean')
    assert curve['thresholds'] == thresholds
    assert curve['mIoU'] == pytest.approx(list(100 * scores['mIoU']))
    assert curve['best_threshold'] == metrics['cam/best_threshold']
    assert curve['cam_norm'] == 'minmax_infer'
    assert curve['nan_policy'] == 'nanmean'
    best = thresholds.index(curve['best_threshold'])
    assert list(curve['per_class_at_best']['IoU']) == ['bg', 'a', 'b', 'c']
    assert metrics['cam/mRecall'] == pytest.approx(
        100 * scores['mRecall'][best])


def test_results_are_sparse_over_present_classes():
    cam = np.zeros((1, 2, 3), dtype=np.float32)
    cam[0, 0] = 0.9
    gt = np.array([[80, 80, 80], [0, 0, 0]])
    metric = CAMIoUMetric(num_classes=81)
    metric.process(None, [cam_sample(cam, [79], gt)])
    cells, counts = metric.results[0]
    # 61 thresholds -> 62 bins; 0.9 exceeds all 61 thresholds, 0 none
    np.testing.assert_array_equal(
        cells, [(0 * 81 + 80) * 62 + 0, (80 * 81 + 80) * 62 + 61])
    np.testing.assert_array_equal(counts, [3, 3])
    assert cells.dtype == np.int32


def test_threshold_grid():
    grid = threshold_grid()
    assert len(grid) == 61 and grid[0] == 0. and grid[-1] == 0.6
    assert grid[15] == 0.15
    np.testing.assert_array_equal(
        threshold_grid(dict(start=0.1, stop=0.34, step=0.01))[[0, -1]],
        [0.1, 0.34])
    np.testing.assert_array_equal(threshold_grid([0.2, 0.5]), [0.2, 0.5])
    with pytest.raises(ValueError, match='strictly increasing'):
        threshold_grid([0.3, 0.2])
    with pytest.raises(ValueError, match='start, stop, step'):
        threshold_grid(dict(start=0, stop=1))
    with pytest.raises(ValueError, match='step > 0'):
        threshold_grid(dict(start=0, stop=1, step=0))


def test_bad_input_errors():
    metric = CAMIoUMetric(num_classes=3)
    gt = np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match='image b: cam of size \\(2, 3\\)'):
        metric.process(None, [
            dict(cam_sample(np.zeros((1, 2, 3)), [0], gt), img_id='b')])
    with pytest.raises(ValueError,
                       match='class_ids \\[2\\] must be foreground'):
        metric.process(None, [cam_sample(np.zeros((1, 2, 2)), [2], gt)])
    with pytest.raises(ValueError, match='K = len\\(class_ids\\)'):
        metric.process(None, [cam_sample(np.zeros((2, 2, 2)), [0], gt)])
    with pytest.raises(ValueError, match='cam_norm'):
        CAMIoUMetric(cam_norm='sigmoid')
