import json

import numpy as np
import pytest

from tests.test_integration.conftest import TINY_GENERATOR
from tests.tool_loader import load_tool
from wsstool.datasets.synthvoc import SynthVOCParams, prepare_synthvoc
from wsstool.fileio import load_label_png, save_cam

# gt ids 1 and 2 (foreground indices 0 and 1); (1, 1) is void and marked
# as a part of class 1, so it counts nowhere
GT = np.array([[0, 0, 1, 1],
               [0, 255, 1, 1],
               [2, 2, 0, 0]], np.uint8)
PART = np.array([[0, 0, 1, 0],
                 [0, 1, 0, 0],
                 [2, 0, 0, 0]], np.uint8)
CAMS = np.array([[[0.9, 0.1, 0.8, 0.2],
                  [0.6, 0.9, 0.7, 0.4],
                  [0.0, 0.0, 0.5, 0.0]],
                 [[0.0, 0.7, 0.0, 0.0],
                  [0.9, 0.9, 0.0, 0.0],
                  [0.2, 0.6, 0.0, 0.9]]], np.float32)


@pytest.fixture(scope='module')
def tool():
    return load_tool('analyze_synthvoc_cams')


def test_coverage_counts_by_hand(tool):
    counts = tool.coverage_counts(CAMS, np.array([0, 1]), GT, PART, 0.5)
    # class 0: part (0, 2) hit; body (0, 3) (1, 2) (1, 3), only (1, 2) hit;
    # background (0, 0) (1, 0) hit, (2, 2) = 0.5 is not above the threshold
    # class 1: part (2, 0) missed; body (2, 1) hit; background (0, 1) (1, 0)
    # (2, 3) hit; some class activates (0, 0) (0, 1) (1, 0) (2, 3)
    assert counts.part_pixels.tolist() == [1, 1]
    assert counts.part_hits.tolist() == [1, 0]
    assert counts.body_pixels.tolist() == [3, 1]
    assert counts.body_hits.tolist() == [1, 1]
    assert counts.background_hits.tolist() == [2, 3]
    assert counts.background_pixels == 5
    assert counts.background_any_hits == 4


def test_coverage_counts_rejects_mismatched_shapes(tool):
    with pytest.raises(ValueError, match='expected'):
        tool.coverage_counts(CAMS, np.array([0]), GT, PART, 0.5)
    with pytest.raises(ValueError, match='expected'):
        tool.coverage_counts(CAMS[:, :2], np.array([0, 1]), GT, PART, 0.5)


def test_split_counts_and_summary(tool):
    split = tool.SplitCounts.zeros(3)
    counts = tool.coverage_counts(CAMS, np.array([0, 1]), GT, PART, 0.5)
    # class 0 on its context scene, class 1 not: a co-occurrence image
    split.add(counts, np.array([0, 1]), np.array([True, False]))
    # the same image again with class 1 alone, off its context
    single = tool.coverage_counts(CAMS[1:], np.array([1]), GT, PART, 0.5)
    split.add(single, np.array([1]), np.array([False]))
    result = tool.summarize(split, ['a', 'b', 'c'])

    a, b, c = (result['classes'][name] for name in 'abc')
    assert a == dict(part_coverage=1.0, body_coverage=1 / 3,
                     cooccurrence_leakage=2 / 5, cooccurrence_images=1,
                     generic_leakage=None, generic_images=0)
    assert b == dict(part_coverage=0.0, body_coverage=1.0,
                     cooccurrence_leakage=None, cooccurrence_images=0,
                     generic_leakage=6 / 10, generic_images=2)
    assert set(c.values()) == {None, 0}
    assert result['mean'] == pytest.approx(dict(
        part_coverage=0.5, body_coverage=2 / 3, cooccurrence_leakage=2 / 5,
        generic_leakage=6 / 10))
    # images: the first counts as co-occurrence (4 of 5 background pixels
    # activated), the second as generic (3 of 5)
    assert result['background_leakage'] == dict(
        cooccurrence=4 / 5, cooccurrence_images=1, generic=3 / 5,
        generic_images=1)


@pytest.fixture(scope='module')
def synthvoc(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthvoc') / 'synthvoc')
    meta = prepare_synthvoc(root, SynthVOCParams.from_cfg(TINY_GENERATOR),
                            True)
    with open(f'{root}/ImageSets/Segmentation/val.txt') as f:
        ids = f.read().split()
    return root, meta, ids


def write_cams(folder, root, meta, ids, make_cam):
    """Write ``make_cam(gt_id, gt, part, on_context) -> (H, W)`` for each
    labelled class of each image, plus a map of ones for an unlabelled
    class that the tool must ignore."""
    classes = meta['classes']
    for img_id in ids:
        info = meta['images'][img_id]
        gt = load_label_png(f'{root}/SegmentationClass/{img_id}.png')
        part = load_label_png(f'{root}/SegmentationPart/{img_id}.png')
        gt_ids = sorted({classes.index(obj['name'])
                         for obj in info['objects']})
        unlabelled = next(i for i in range(1, len(classes))
                          if i not in gt_ids)
        maps = [
            make_cam(i, gt, part,
                     meta['class_scenes'][classes[i]] == info['scene'])
            for i in gt_ids
        ]
        keys = np.array(gt_ids + [unlabelled]) - 1
        save_cam(str(folder / f'{img_id}.npz'), keys,
                 np.stack(maps + [np.ones(gt.shape)]).astype(np.float32))


def run(tool, cams, root, out=None):
    argv = ['--cams', str(cams), '--data-root', root, '--threshold', '0.5']
    return tool.main(argv + (['--out', str(out)] if out else []))


def present_values(result, metric):
    return {figures[metric] for figures in result['classes'].values()
            if figures[metric] is not None}


def test_end_to_end_on_ground_truth_cams(tool, synthvoc, tmp_path):
    root, meta, ids = synthvoc
    write_cams(tmp_path / 'object', root, meta, ids,
               lambda i, gt, part, _: gt == i)
    out = tmp_path / 'result.json'
    result = run(tool, tmp_path / 'object', root, out)
    assert json.loads(out.read_text()) == result
    assert result['num_images'] == len(ids) == 5
    assert present_values(result, 'part_coverage') == {1.0}
    assert present_values(result, 'body_coverage') == {1.0}
    assert present_values(result, 'cooccurrence_leakage') == {0.0}
    assert present_values(result, 'generic_leakage') == {0.0}
    # the tiny val split: cow on grass without a visible part, boat on road
    assert result['classes']['cow']['part_coverage'] is None
    assert result['classes']['boat']['generic_images'] == 1
    assert result['background_leakage'] == dict(
        cooccurrence=0.0, cooccurrence_images=4, generic=0.0,
        generic_images=1)

    write_cams(tmp_path / 'part', root, meta, ids,
               lambda i, gt, part, _: part == i)
    result = run(tool, tmp_path / 'part', root)
    assert result['mean']['part_coverage'] == 1.0
    assert result['mean']['body_coverage'] == 0.0


def test_end_to_end_context_leakage(tool, synthvoc, tmp_path):
    root, meta, ids = synthvoc
    # every class covers the background, on its context scene only
    write_cams(tmp_path, root, meta, ids,
               lambda i, gt, part, on_context: (gt == 0) & on_context)
    result = run(tool, tmp_path, root)
    assert result['mean']['body_coverage'] == 0.0
    assert present_values(result, 'cooccurrence_leakage') == {1.0}
    assert present_values(result, 'generic_leakage') == {0.0}
    assert result['background_leakage']['cooccurrence'] == 1.0
    assert result['background_leakage']['generic'] == 0.0


def test_errors_name_missing_files_and_keys(tool, synthvoc, tmp_path):
    root, meta, ids = synthvoc
    with pytest.raises(FileNotFoundError, match=f'{ids[0]}.npz'):
        run(tool, tmp_path, root)
    # a CAM file without one of the image's labelled classes
    save_cam(str(tmp_path / f'{ids[0]}.npz'), np.array([3]),
             np.zeros((1, 2, 2)))
    with pytest.raises(KeyError, match=r'labelled class\(es\) \[0\]'):
        run(tool, tmp_path, root)
    with pytest.raises(FileNotFoundError, match='synthvoc.json'):
        run(tool, tmp_path, str(tmp_path))
    with pytest.raises(KeyError, match="no entry images\\['unknown'\\]"):
        tool.image_labels(meta, 'unknown')
    with pytest.raises(SystemExit):
        tool.parse_args(['--cams', 'c', '--data-root', 'd', '--threshold',
                         '1.5'])
