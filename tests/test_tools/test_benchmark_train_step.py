"""tools/benchmark_train_step.py runs every method's full training step."""
import os.path as osp

from tests.tool_loader import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_step_times_are_printed_for_baseline_and_methods(capsys):
    configs = [
        osp.join(REPO, 'configs', 'cam',
                 'cam_r18_1xb16-12e_synthvoc-128x128.py'),
        osp.join(REPO, 'configs', 'ktse_plus',
                 'ktse-plus_r18_1xb16-12e_synthvoc-128x128.py'),
        osp.join(REPO, 'configs', 'ppc',
                 'ppc_seam_r18_1xb16-12e_synthvoc-128x128.py'),
        osp.join(REPO, 'configs', 'ssc',
                 'ssc_r18-drs_1xb16-12e_synthvoc-128x128.py'),
    ]
    load_tool('benchmark_train_step').main(
        [*configs, '--batch-size', '4', '--size', '32', '32', '--steps',
         '1'])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[1].endswith('1.00x')
    assert 'ktse-plus' in lines[2] and 's/step' in lines[2]
    assert 'ppc_seam' in lines[3] and 'ssc' in lines[4]


def test_segmentor_step_times_are_printed(capsys):
    configs = [
        osp.join(REPO, 'configs', 'deeplab',
                 'deeplabv2_r18_1xb16-20e_synthvoc-128x128.py'),
        osp.join(REPO, 'configs', 'beco',
                 'beco_deeplabv2_r18_1xb16-20e_synthvoc-128x128.py'),
    ]
    load_tool('benchmark_train_step').main(
        [*configs, '--batch-size', '2', '--size', '32', '32', '--steps',
         '1'])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].endswith('1.00x')
    assert 'beco' in lines[2] and 'images/s' in lines[2]
