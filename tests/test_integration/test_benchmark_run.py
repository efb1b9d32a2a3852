"""tools/benchmark.py end to end: a set with the CAM baseline shrunk to the
tiny SynthVOC, trained and tested through the pipeline, then the same
command again, which reuses the finished run."""
import json
import os.path as osp

from tests.tool_loader import load_tool

from .conftest import CAM_CONFIG, tiny_overrides


def test_benchmark_trains_tests_and_reports_then_resumes(
        tiny_synthvoc, tmp_path, capsys):
    # the benchmark trains config entries without validation
    # (val_dataloader=None): no val_dataloader keys to set
    overrides = {k: v for k, v in tiny_overrides(tiny_synthvoc).items()
                 if not k.startswith('val_dataloader')}
    set_file = tmp_path / 'tiny_set.py'
    set_file.write_text(
        'seeds = [0]\n'
        f'cfg_options = {overrides!r}\n'
        f"entries = [dict(name='CAM baseline', config={CAM_CONFIG!r})]\n")
    work_dir = tmp_path / 'bench'
    benchmark = load_tool('benchmark')

    summary = benchmark.main([str(set_file), '--work-dir', str(work_dir)])
    entry, = summary['entries']
    run_dir = work_dir / 'cam-baseline' / 'seed_0'
    with open(run_dir / 'results.json') as f:
        results = json.load(f)
    assert results['seed'] == 0
    assert [s['name'] for s in results['stages']] == ['train', 'test']
    assert entry['runs'] == [dict(
        seed=0, work_dir=str(run_dir),
        metrics={k: results['metrics'][k]
                 for k in ('cam_miou', 'cam_threshold')},
        total_seconds=results['total_seconds'])]
    assert 0 < entry['metrics']['cam_miou']['mean'] <= 100
    assert entry['metrics']['cam_miou']['std'] is None
    assert entry['cam_curve']['miou'] == results['metrics']['cam_curve'][
        'miou']
    for name in ('benchmark.json', 'benchmark.md', 'miou_bars.png',
                 'cam_curves.png'):
        assert osp.isfile(work_dir / name), name
    cam_miou = f"{entry['metrics']['cam_miou']['mean']:.1f}"
    assert f'| CAM baseline | {cam_miou} |' in capsys.readouterr().out

    # the same command again: nothing is trained, the table is the same
    again = benchmark.main([str(set_file), '--work-dir', str(work_dir)])
    with open(run_dir / 'results.json') as f:
        assert all(s['reused'] for s in json.load(f)['stages'])
    assert again['entries'][0]['metrics'] == entry['metrics']
