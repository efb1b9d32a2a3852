"""The eraser plugin of docs/benchmarking.md: it registers through
custom_imports, erases the top fraction of each present class's CAM softly,
and its config and benchmark set load."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from wsstool.apis.benchmark import load_benchmark_set
from wsstool.models.erasers import ErasingInputs
from wsstool.registry import ERASERS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PROJECT = osp.join(REPO, 'projects', 'example_erasing')
CONFIG = osp.join(PROJECT, 'ktse-topratio_r18_1xb16-12e_synthvoc-128x128.py')


@pytest.fixture(scope='module')
def eraser_type():
    Config.fromfile(CONFIG)  # custom_imports registers the eraser
    return ERASERS.get('ClassTopRatioEraser')


def erase(eraser, class_cams, labels, value=2.0):
    """Erase constant images of ``value`` with the given (B, C, H, W)
    class CAMs and (B, C) labels."""
    batch, _, height, width = class_cams.shape
    images = torch.full((batch, 3, height, width), value)
    return eraser(ErasingInputs(
        images=images, fg_cam=(class_cams * labels[:, :, None, None]).amax(
            1, keepdim=True), labels=labels, class_cams=class_cams))


def test_top_half_of_each_present_class_is_erased_softly(eraser_type):
    eraser = eraser_type(ratio=0.5)  # k = ceil(0.5 * 4) = 2 pixels per class
    class_cams = torch.tensor([[
        [[1.0, 0.5], [0.2, 0.0]],  # class 0: top 2 = 1.0, 0.5
        [[0.0, 0.6], [0.9, 0.1]],  # class 1: top 2 = 0.9, 0.6
        [[0.0, 0.0], [0.0, 0.8]],  # class 2, absent: ignored
    ]])
    erased = erase(eraser, class_cams, torch.tensor([[1.0, 1.0, 0.0]]))
    # erase weight per pixel = strongest selected CAM: 1.0, max(0.5, 0.6),
    # 0.9, none -> keep 0, 0.4, 0.1, 1, times the image value 2
    expected = torch.tensor([[0.0, 0.8], [0.2, 2.0]]).expand(1, 3, 2, 2)
    torch.testing.assert_close(erased, expected)


def test_ties_with_the_kth_value_are_all_erased(eraser_type):
    eraser = eraser_type(ratio=0.25)  # k = 1 of 4 pixels
    class_cams = torch.tensor([[[[0.7, 0.7], [0.3, 0.0]]]])
    erased = erase(eraser, class_cams, torch.ones(1, 1), value=1.0)
    torch.testing.assert_close(
        erased[:, 0], torch.tensor([[[0.3, 0.3], [1.0, 1.0]]]))


def test_ratio_outside_the_image_is_an_error(eraser_type):
    with pytest.raises(ValueError, match=r'ratio=0: expected .* \(0, 1\]'):
        eraser_type(ratio=0)


def test_project_config_builds_ktse_with_the_plugin_eraser():
    cfg = Config.fromfile(CONFIG)
    init_default_scope('wsstool')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'KTSE'
    assert type(model.eraser).__name__ == 'ClassTopRatioEraser'
    assert model.eraser.ratio == 0.1


def test_benchmark_set_compares_the_plugin_with_its_baselines(monkeypatch):
    monkeypatch.chdir(REPO)
    bench_set = load_benchmark_set(osp.join(PROJECT, 'benchmark_synthvoc.py'))
    assert bench_set.seeds == [0, 1]
    assert [entry.config for entry in bench_set.entries] == [
        'configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py',
        'configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py',
        osp.relpath(CONFIG, REPO),
    ]
