import json

import numpy as np
import pytest
import torch

from wsstool.evaluation import CAMIoUMetric
from wsstool.fileio import load_cam, save_cam, save_label_png
from tests.tool_loader import load_tool

@pytest.fixture(scope='module')
def evaluate_tool():
    return load_tool('evaluate')


@pytest.fixture
def dataset(tmp_path):
    """Three 6x8 images with ground truth, CAMs in the three formats and
    label maps; the list file uses path pairs."""
    rng = np.random.default_rng(0)
    ids = ['2007_000032', '2007_000039', '2007_000063']
    keys = [np.array([0, 4]), np.array([2]), np.array([19])]
    for img_id, fmt, img_keys in zip(ids, ('npz', 'psa', 'irn'), keys):
        gt = rng.choice(np.concatenate([[0, 255], img_keys + 1]), (6, 8))
        save_label_png(str(tmp_path / 'gt' / f'{img_id}.png'), gt)
        suffix = '.npz' if fmt == 'npz' else '.npy'
        save_cam(str(tmp_path / 'cams' / f'{img_id}{suffix}'), img_keys,
                 rng.random((len(img_keys), 6, 8)), fmt=fmt)
        save_label_png(str(tmp_path / 'labels' / f'{img_id}.png'),
                       np.where(gt == 255, 0, gt))
    (tmp_path / 'train.txt').write_text(''.join(
        f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n' for i in ids))
    return tmp_path, ids


def test_cam_sweep_over_mixed_formats(evaluate_tool, dataset):
    root, ids = dataset
    out = root / 'result.json'
    metrics = evaluate_tool.main([
        '--type', 'cam', '--pred', str(root / 'cams'), '--gt',
        str(root / 'gt'), '--list', str(root / 'train.txt'), '--thresholds',
        '0.1', '0.5', '0.2', '--nan-policy', 'nanmean', '--out', str(out)
    ])

    expected = CAMIoUMetric(
        thresholds=[0.1, 0.3, 0.5], num_classes=21, nan_policy='nanmean')
    for img_id in ids:
        path = root / 'cams' / f'{img_id}.npz'
        if not path.exists():
            path = path.with_suffix('.npy')
        keys, cam = load_cam(str(path))
        gt = evaluate_tool.load_label_png(str(root / 'gt' / f'{img_id}.png'))
        expected.process(None, [
            dict(
                pred_cam=dict(
                    cam=torch.from_numpy(cam),
                    class_ids=torch.from_numpy(keys)),
                gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))
        ])
    expected_metrics = expected.evaluate(len(ids))
    assert metrics.pop('cam/mIoU_curve') == expected.miou_curve
    assert metrics == expected_metrics
    assert list(expected.miou_curve) == ['0.1', '0.3', '0.5']
    report = json.loads(out.read_text())
    assert report['type'] == 'cam'
    assert report['metrics']['cam/mIoU'] == pytest.approx(
        expected_metrics['cam/mIoU'])


def test_label_maps_with_dataset_class_names(evaluate_tool, dataset):
    root, _ = dataset
    metrics = evaluate_tool.main([
        '--type', 'label', '--pred', str(root / 'labels'), '--gt',
        str(root / 'gt'), '--list', str(root / 'train.txt'), '--dataset',
        'VOCDataset', '--nan-policy', 'present_in_gt'
    ])
    # the label maps equal the ground truth wherever it is not ignored
    assert metrics['seg/mIoU'] == pytest.approx(100.)
    assert metrics['seg/nan_policy'] == 'present_in_gt'
    args = evaluate_tool.parse_args([
        '--type', 'label', '--pred', 'p', '--gt', 'g', '--list', 'l',
        '--dataset', 'VOCDataset'
    ])
    assert evaluate_tool.build_metrics(args)[0].class_names[1] == 'aeroplane'


def test_confidence_masks_add_the_confident_pixel_scores(
        evaluate_tool, dataset):
    root, ids = dataset
    for index, img_id in enumerate(ids):
        gt = evaluate_tool.load_label_png(str(root / 'gt' / f'{img_id}.png'))
        # wrong labels on the left half, confident on the right half only
        label = np.where(gt == 255, 0, gt)
        label[:, :4] = 21 - label[:, :4] - 1
        save_label_png(str(root / 'wrong' / f'{img_id}.png'), label)
        mask = np.zeros_like(gt)
        mask[:, 4:] = 255
        save_label_png(str(root / 'masks' / f'{img_id}.png'), mask)
    metrics = evaluate_tool.main([
        '--type', 'label', '--pred', str(root / 'wrong'), '--gt',
        str(root / 'gt'), '--list', str(root / 'train.txt'), '--conf-masks',
        str(root / 'masks')
    ])
    assert metrics['seg/mIoU'] < 100
    assert metrics['conf/precision'] == pytest.approx(100.)
    evaluated = sum((evaluate_tool.load_label_png(
        str(root / 'gt' / f'{i}.png')) != 255).sum() for i in ids)
    confident = sum((evaluate_tool.load_label_png(
        str(root / 'gt' / f'{i}.png'))[:, 4:] != 255).sum() for i in ids)
    assert metrics['conf/coverage'] == pytest.approx(
        100 * confident / evaluated)


def test_missing_prediction_is_named(evaluate_tool, dataset):
    root, ids = dataset
    (root / 'cams' / f'{ids[1]}.npy').unlink()
    with pytest.raises(FileNotFoundError,
                       match=f'CAM file of image {ids[1]} not found: looked '
                       f'for .*{ids[1]}.npz or .*{ids[1]}.npy'):
        evaluate_tool.main([
            '--type', 'cam', '--pred', str(root / 'cams'), '--gt',
            str(root / 'gt'), '--list', str(root / 'train.txt')
        ])


def test_format_option_rejects_other_formats(evaluate_tool, dataset):
    root, ids = dataset
    with pytest.raises(ValueError, match=f'{ids[0]}.npz is a toolbox .npz, '
                       "not the 'psa' format"):
        evaluate_tool.main([
            '--type', 'cam', '--pred', str(root / 'cams'), '--gt',
            str(root / 'gt'), '--list', str(root / 'train.txt'), '--format',
            'psa'
        ])


def test_coco_ground_truth_named_by_image_id(evaluate_tool, dataset,
                                             tmp_path):
    """The same files as ``dataset`` under COCO names: ground truth
    ``<int image id>.png``, CAMs ``<stem>.npz``; the metrics must agree."""
    root, ids = dataset
    coco = tmp_path / 'coco'
    (coco / 'gt').mkdir(parents=True)
    (coco / 'cams').mkdir()
    stems = []
    for image_id, img_id in zip((42, 73, 9), ids):
        stem = f'COCO_val2014_{image_id:012d}'
        stems.append(stem)
        (coco / 'gt' / f'{image_id}.png').write_bytes(
            (root / 'gt' / f'{img_id}.png').read_bytes())
        for cam in (root / 'cams').glob(f'{img_id}.*'):
            (coco / 'cams' / f'{stem}{cam.suffix}').write_bytes(
                cam.read_bytes())
    (coco / 'val.txt').write_text(''.join(f'{s}\n' for s in stems))
    common = ['--type', 'cam', '--thresholds', '0.1', '0.5', '0.2']
    expected = evaluate_tool.main(common + [
        '--pred', str(root / 'cams'), '--gt', str(root / 'gt'), '--list',
        str(root / 'train.txt')
    ])
    coco_args = common + [
        '--pred', str(coco / 'cams'), '--gt', str(coco / 'gt'), '--list',
        str(coco / 'val.txt')
    ]
    by_image_id = coco_args + ['--gt-naming', 'image_id']
    assert evaluate_tool.main(by_image_id) == expected
    with pytest.raises(FileNotFoundError,
                       match=f'looked for .*gt/{stems[0]}.png'):
        evaluate_tool.main(coco_args)
    (coco / 'gt' / '73.png').unlink()
    with pytest.raises(FileNotFoundError, match='looked for .*gt/73.png'):
        evaluate_tool.main(by_image_id)
