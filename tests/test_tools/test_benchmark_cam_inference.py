"""tools/benchmark_cam_inference.py: both paths give the same CAMs."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.tool_loader import load_tool
from wsstool.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'ktse',
                  'ktse_r18_1xb16-12e_synthvoc-128x128.py')


def test_batched_and_one_by_one_paths_agree():
    tool = load_tool('benchmark_cam_inference')
    init_default_scope('wsstool')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model).eval()
    images = torch.randn(3, 3, 32, 48)
    with torch.no_grad():
        batched = tool.batched_cams(model, images, batch_size=2)
        single = tool.one_by_one_cams(model, images)
    assert batched.shape == (3, 8, 32, 48)
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_main_prints_throughputs(capsys):
    load_tool('benchmark_cam_inference').main(
        [CONFIG, '--images', '2', '--batch-size', '2', '--size', '32', '32',
         '--repeat', '1'])
    out = capsys.readouterr().out
    assert 'images/s' in out and 'speed-up' in out
