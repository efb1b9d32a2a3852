"""Benchmark sets: validation, run plan, aggregation over seeds, the table,
and the run loop with a stand-in for the pipeline runner."""
import glob
import json
import logging
import math
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

from tests.tool_loader import load_tool
from wsstool.apis.benchmark import (NO_VALIDATION, BenchmarkEntry,
                                    BenchmarkRun, load_benchmark_set,
                                    mean_std, pipeline_config, plan_runs,
                                    render_markdown, run_benchmark,
                                    summarize)
from wsstool.apis.pipeline import RESULTS_FILE, build_stages

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
THRESHOLDS = [0.0, 0.1, 0.2]


def write_set(tmp_path, body: str) -> str:
    """A set file in tmp_path; ``@A`` and ``@P`` in ``body`` become the
    absolute paths of two existing files, a.py and p.py (a pipeline
    config)."""
    (tmp_path / 'a.py').write_text('x = 1\n')
    (tmp_path / 'p.py').write_text(
        "data_root = 'data/synthvoc'\n"
        "stages = [dict(type='TrainStage', name='cam', config='c.py', "
        "cfg_options={'train_cfg.max_epochs': 12})]\n")
    path = tmp_path / 'set.py'
    path.write_text(body.replace('@A', str(tmp_path / 'a.py')).replace(
        '@P', str(tmp_path / 'p.py')))
    return str(path)


def test_set_loads_with_defaults_and_both_entry_kinds(tmp_path):
    path = write_set(tmp_path, (
        "cfg_options = {'train_cfg.max_epochs': 6}\n"
        "entries = [dict(name='CAM baseline', config='@A',\n"
        "                cfg_options={'model.x': 1}),\n"
        "           dict(name='KTSE -> IRN -> BECO', pipeline='@P')]\n"))
    bench_set = load_benchmark_set(path)
    assert bench_set.seeds == [0]
    assert bench_set.cfg_options == {'train_cfg.max_epochs': 6}
    cam, pipe = bench_set.entries
    assert (cam.config, cam.pipeline, cam.cfg_options) == (
        str(tmp_path / 'a.py'), None, {'model.x': 1})
    assert (pipe.config, pipe.pipeline) == (None, str(tmp_path / 'p.py'))
    assert (cam.slug, pipe.slug) == ('cam-baseline', 'ktse-irn-beco')


@pytest.mark.parametrize('entries, error, message', [
    ("[dict(name='m', config='@A', pipeline='@P')]", ValueError,
     r"entries\[0\] \('m'\) must set exactly one of config="),
    ("[dict(name='m')]", ValueError,
     r"entries\[0\] \('m'\) must set exactly one.*neither"),
    ("[dict(name='m', config='@A'), dict(name='n', config='missing.py')]",
     FileNotFoundError,
     r"entries\[1\] \('n'\): config file missing.py does not exist"),
    ("[dict(name='m', config='@A'), dict(name='m', pipeline='@P')]",
     ValueError, r"entries 'm' and 'm' have the same name 'm'"),
    ("[dict(name='KTSE+', config='@A'), dict(name='ktse plus', "
     "config='@A')]", ValueError,
     r"entries 'KTSE\+' and 'ktse plus' have the same folder name "
     r"'ktse-plus'"),
    ("[dict(name='m', confg='A')]", ValueError,
     r"entries\[0\] \('m'\): unknown keys \['confg'\]"),
    ("[dict(config='@A')]", ValueError,
     r'entries\[0\] needs a non-empty name'),
    ("[dict(name='->', config='@A')]", ValueError,
     r"entries\[0\] \('->'\): the name needs a letter or a digit"),
    ('[]', ValueError, 'entries must be a non-empty list'),
])
def test_bad_entries_name_the_set_file_and_the_entry(tmp_path, entries, error,
                                                     message):
    path = write_set(tmp_path, f'entries = {entries}\n')
    with pytest.raises(error, match=message) as info:
        load_benchmark_set(path)
    assert path in str(info.value)


def test_bad_seeds_and_unknown_keys_are_errors(tmp_path):
    path = write_set(tmp_path, "seeds = [0, 0]\n"
                     "entries = [dict(name='m', config='@A')]\n")
    with pytest.raises(ValueError, match='seeds must be a non-empty list'):
        load_benchmark_set(path)
    path = write_set(tmp_path, "seed = [0]\n_epochs = 3\n"
                     "entries = [dict(name='m', config='@A')]\n")
    with pytest.raises(ValueError, match=r"unknown keys \['seed'\]"):
        load_benchmark_set(path)
    # names starting with _ are the file's helpers
    path = write_set(tmp_path, "_epochs = 3\n"
                     "cfg_options = {'train_cfg.max_epochs': _epochs}\n"
                     "entries = [dict(name='m', config='@A')]\n")
    assert load_benchmark_set(path).cfg_options == {
        'train_cfg.max_epochs': 3}
    with pytest.raises(FileNotFoundError, match='nowhere.py'):
        load_benchmark_set(str(tmp_path / 'nowhere.py'))


def test_plan_runs_every_entry_and_seed_in_its_own_folder(tmp_path):
    path = write_set(tmp_path, (
        'seeds = [0, 1]\n'
        "entries = [dict(name='CAM baseline', config='@A'),\n"
        "           dict(name='KTSE -> IRN -> BECO', pipeline='@P')]\n"))
    bench_set = load_benchmark_set(path)
    plan = plan_runs(bench_set, 'wd')
    assert [(r.entry.name, r.seed, r.work_dir) for r in plan] == [
        ('CAM baseline', 0, osp.join('wd', 'cam-baseline', 'seed_0')),
        ('CAM baseline', 1, osp.join('wd', 'cam-baseline', 'seed_1')),
        ('KTSE -> IRN -> BECO', 0, osp.join('wd', 'ktse-irn-beco', 'seed_0')),
        ('KTSE -> IRN -> BECO', 1, osp.join('wd', 'ktse-irn-beco', 'seed_1')),
    ]
    plan = plan_runs(bench_set, 'wd', seeds=[5], only=['KTSE -> IRN -> BECO'])
    assert [(r.entry.name, r.seed) for r in plan] == [('KTSE -> IRN -> BECO',
                                                        5)]
    with pytest.raises(ValueError, match=r"no entries \['KTSE'\]"):
        plan_runs(bench_set, 'wd', only=['KTSE'])
    with pytest.raises(ValueError, match='--seeds'):
        plan_runs(bench_set, 'wd', seeds=[1, 1])


def test_config_entry_becomes_a_train_and_test_pipeline(tmp_path):
    entry = BenchmarkEntry('m', config='c.py',
                           cfg_options={'train_cfg.max_epochs': 3, 'k': 1})
    cfg = pipeline_config(entry, {'train_cfg.max_epochs': 12, 's': 2},
                          data_root='/data/tiny')
    assert cfg.data_root == '/data/tiny'
    train, test = cfg.stages
    assert (train.type, train.name, train.config) == ('TrainStage', 'train',
                                                      'c.py')
    # no validation, then the set's options, then the entry's
    assert train.cfg_options == {**NO_VALIDATION, 'train_cfg.max_epochs': 3,
                                 's': 2, 'k': 1}
    assert NO_VALIDATION == {'val_dataloader': None, 'val_evaluator': None,
                             'val_cfg': None}
    validating = BenchmarkEntry('v', config='c.py', cfg_options={
        'val_cfg': dict(type='ValLoop')})
    assert pipeline_config(validating, {}).stages[0].cfg_options[
        'val_cfg'] == dict(type='ValLoop')
    assert (test.type, test.name, test.train, tuple(test.modes)) == (
        'TestStage', 'test', 'train', ('ss', ))
    assert 'data_root' not in pipeline_config(entry, {})


def test_pipeline_entry_reads_its_file_with_the_entry_options(tmp_path):
    write_set(tmp_path, "entries = []\n")
    entry = BenchmarkEntry(
        'p', pipeline=str(tmp_path / 'p.py'),
        cfg_options={'stages.0.cfg_options': {'train_cfg.max_epochs': 2}})
    cfg = pipeline_config(entry, {'ignored.for.pipelines': 1}, '/data/x')
    assert cfg.data_root == '/data/x'
    assert cfg.stages[0].cfg_options == {'train_cfg.max_epochs': 2}
    assert cfg.stages[0].config == 'c.py'
    assert 'ignored' not in cfg
    assert pipeline_config(entry, {}).data_root == 'data/synthvoc'


def test_mean_and_sample_std_by_hand():
    stat = mean_std([27.0, 28.0, 30.0])
    # mean 85 / 3; deviations -4 / 3, -1 / 3, 5 / 3: (16 + 1 + 25) / 9
    # summed squares, over n - 1 = 2
    assert stat['mean'] == pytest.approx(85 / 3)
    assert stat['std'] == pytest.approx(math.sqrt(42 / 9 / 2))
    assert stat['n'] == 3
    assert mean_std([4.0]) == dict(mean=4.0, std=None, n=1)


def fake_results() -> tuple:
    """Two entries x two seeds: the config entry has CAM metrics only;
    seed 1 of the pipeline entry lacks TTA and has a metric the pipeline's
    table does not know."""
    cam = BenchmarkEntry('CAM baseline', config='c.py')
    pipe = BenchmarkEntry('KTSE -> IRN -> BECO', pipeline='p.py')
    runs = [BenchmarkRun(e, s, f'wd/{e.slug}/seed_{s}')
            for e in (cam, pipe) for s in (0, 1)]
    results = [
        dict(metrics=dict(cam_miou=27.0, cam_threshold=0.30,
                          cam_curve=dict(thresholds=THRESHOLDS,
                                         miou=[10.0, 20.0, 27.0])),
             total_seconds=300.0),
        dict(metrics=dict(cam_miou=28.0, cam_threshold=0.20,
                          cam_curve=dict(thresholds=THRESHOLDS,
                                         miou=[12.0, 28.0, 26.0])),
             total_seconds=330.0),
        dict(metrics=dict(cam_miou=15.0, pseudo_label_miou=16.0,
                          seg_miou_ss=18.0, seg_miou_tta=19.0),
             total_seconds=3000.0),
        dict(metrics=dict(cam_miou=14.0, pseudo_label_miou=17.0,
                          seg_miou_ss=17.0, a_new_metric=0.5),
             total_seconds=3600.0),
    ]
    return runs, results


def test_summary_aggregates_each_metric_over_the_seeds_that_have_it():
    summary = summarize(*fake_results(), 'set.py', 'wd')
    # the pipeline's table order and titles, then other keys sorted
    assert list(summary['metrics'].items()) == [
        ('cam_miou', 'CAM mIoU'), ('cam_threshold', 'CAM threshold'),
        ('pseudo_label_miou', 'pseudo-label mIoU'),
        ('seg_miou_ss', 'seg mIoU (ss)'), ('seg_miou_tta', 'seg mIoU (TTA)'),
        ('a_new_metric', 'a_new_metric')
    ]
    cam, pipe = summary['entries']
    assert cam['seeds'] == [0, 1]
    assert cam['metrics']['cam_miou']['mean'] == pytest.approx(27.5)
    assert cam['metrics']['cam_miou']['std'] == pytest.approx(math.sqrt(0.5))
    assert cam['runs'][1] == dict(
        seed=1, work_dir='wd/cam-baseline/seed_1',
        metrics=dict(cam_miou=28.0, cam_threshold=0.20),
        total_seconds=330.0)
    assert cam['cam_curve'] == dict(thresholds=THRESHOLDS,
                                    miou=[11.0, 24.0, 26.5], n=2)
    assert cam['seconds']['mean'] == pytest.approx(315.0)
    assert pipe['metrics']['seg_miou_tta'] == dict(mean=19.0, std=None, n=1)
    assert 'cam_threshold' not in pipe['metrics']
    assert 'cam_curve' not in pipe


def test_curves_of_different_thresholds_cannot_be_averaged():
    runs, results = fake_results()
    results[1]['metrics']['cam_curve']['thresholds'] = [0.0, 0.2, 0.4]
    with pytest.raises(ValueError, match=r"'CAM baseline', seed 1 "
                       r'\(wd/cam-baseline/seed_1\): .*different CAM'):
        summarize(runs, results, 'set.py', 'wd')


def test_curve_needs_an_miou_per_threshold():
    runs, results = fake_results()
    results[1]['metrics']['cam_curve']['miou'] = [12.0, 28.0]
    with pytest.raises(ValueError, match=r"'CAM baseline', seed 1 .*: its "
                       'CAM curve has 2 mIoU values for 3 thresholds'):
        summarize(runs, results, 'set.py', 'wd')


def test_markdown_table_shows_mean_std_and_dashes():
    text = render_markdown(summarize(*fake_results(), 'set.py', 'wd'))
    table = text[text.index('| method'):].splitlines()
    assert table == [
        '| method | CAM mIoU | CAM threshold | pseudo-label mIoU | '
        'seg mIoU (ss) | seg mIoU (TTA) | a_new_metric | seeds | time |',
        '|---|---|---|---|---|---|---|---|---|',
        '| CAM baseline | 27.5 ± 0.7 | 0.25 ± 0.07 | - | - | - | - | 2 | '
        '5 min 15 s |',
        '| KTSE -> IRN -> BECO | 14.5 ± 0.7 | - | 16.5 ± 0.7 | '
        '17.5 ± 0.7 | 19.0 | 0.5 | 2 | 55 min 00 s |',
    ]
    assert text.startswith('Benchmark `set.py`: mean ± sample standard')


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Replace run_pipeline by a stand-in that records its calls and writes
    and returns results derived from the seed."""
    calls = []

    def run_pipeline(cfg, work_dir=None, nproc=1, seed=None):
        calls.append(dict(cfg=cfg, work_dir=work_dir, nproc=nproc,
                          seed=seed))
        results = dict(metrics=dict(
            cam_miou=20.0 + seed, cam_threshold=0.1,
            cam_curve=dict(thresholds=THRESHOLDS,
                           miou=[10.0, 20.0 + seed, 15.0])),
                       total_seconds=10.0)
        os.makedirs(work_dir, exist_ok=True)
        with open(osp.join(work_dir, RESULTS_FILE), 'w') as f:
            json.dump(results, f)
        return results

    monkeypatch.setattr('wsstool.apis.benchmark.run_pipeline', run_pipeline)
    return calls


def test_run_benchmark_runs_each_seed_and_writes_the_outputs(
        tmp_path, fake_pipeline):
    path = write_set(tmp_path, (
        "cfg_options = {'train_cfg.max_epochs': 2}\n"
        "entries = [dict(name='CAM baseline', config='@A'),\n"
        "           dict(name='pipe', pipeline='@P')]\n"))
    work_dir = str(tmp_path / 'bench')
    summary = run_benchmark(load_benchmark_set(path), work_dir,
                            seeds=[0, 2], nproc=2, data_root='/d')
    assert [(c['work_dir'], c['seed'], c['nproc']) for c in fake_pipeline
            ] == [(osp.join(work_dir, slug, f'seed_{s}'), s, 2)
                  for slug in ('cam-baseline', 'pipe') for s in (0, 2)]
    first = fake_pipeline[0]['cfg']
    assert first.stages[0].cfg_options == {**NO_VALIDATION,
                                           'train_cfg.max_epochs': 2}
    assert first.data_root == '/d'
    assert fake_pipeline[2]['cfg'].stages[0].config == 'c.py'
    with open(osp.join(work_dir, 'benchmark.json')) as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    assert summary['entries'][0]['metrics']['cam_miou']['mean'] == 21.0
    with open(osp.join(work_dir, 'benchmark.md')) as f:
        assert f.read() == render_markdown(summary)
    assert osp.isfile(osp.join(work_dir, 'miou_bars.png'))
    assert osp.isfile(osp.join(work_dir, 'cam_curves.png'))


def test_cli_prints_the_table_and_honours_its_options(
        tmp_path, fake_pipeline, capsys, monkeypatch):
    path = write_set(tmp_path, (
        'seeds = [0, 1]\n'
        "entries = [dict(name='CAM baseline', config='@A'),\n"
        "           dict(name='other', config='@A')]\n"))
    monkeypatch.chdir(tmp_path)
    summary = load_tool('benchmark').main(
        [path, '--seeds', '3', '--only', 'other', '--data-root', 'd'])
    default_dir = osp.join('work_dirs', 'benchmarks', 'set')
    assert [(c['work_dir'], c['seed'], c['nproc'], c['cfg'].data_root)
            for c in fake_pipeline] == [
                (osp.join(default_dir, 'other', 'seed_3'), 3, 1, 'd')]
    assert [e['name'] for e in summary['entries']] == ['other']
    assert '| other | 23.0 | 0.10 | 1 | 10 s |' in capsys.readouterr().out
    assert osp.isfile(osp.join(default_dir, 'benchmark.md'))


def test_a_partial_command_reports_every_finished_run(tmp_path,
                                                      fake_pipeline):
    path = write_set(tmp_path, (
        'seeds = [0, 1]\n'
        "entries = [dict(name='CAM baseline', config='@A'),\n"
        "           dict(name='KTSE', config='@A'),\n"
        "           dict(name='unrun', config='@A')]\n"))
    bench_set = load_benchmark_set(path)
    work_dir = str(tmp_path / 'bench')
    run_benchmark(bench_set, work_dir, only=['CAM baseline', 'KTSE'])
    # an unfinished run (no results.json) and folders plan_runs does not
    # make are not runs
    os.makedirs(osp.join(work_dir, 'cam-baseline', 'seed_7'))
    os.makedirs(osp.join(work_dir, 'ktse', 'logs'))
    os.makedirs(osp.join(work_dir, 'ktse', 'seed_01'))
    open(osp.join(work_dir, 'ktse', 'seed_01', RESULTS_FILE), 'w').close()
    del fake_pipeline[:]
    summary = run_benchmark(bench_set, work_dir, seeds=[2], only=['KTSE'])
    assert [(c['work_dir'], c['seed']) for c in fake_pipeline] == [
        (osp.join(work_dir, 'ktse', 'seed_2'), 2)]
    rows = {e['name']: e for e in summary['entries']}
    assert list(rows) == ['CAM baseline', 'KTSE']
    assert rows['CAM baseline']['seeds'] == [0, 1]
    assert rows['KTSE']['seeds'] == [0, 1, 2]
    # seeds 0, 1, 2 give cam_miou 20, 21, 22
    assert rows['KTSE']['metrics']['cam_miou'] == dict(mean=21.0, std=1.0,
                                                       n=3)
    assert rows['KTSE']['runs'][2]['work_dir'] == osp.join(
        work_dir, 'ktse', 'seed_2')
    with open(osp.join(work_dir, 'benchmark.json')) as f:
        assert json.load(f) == json.loads(json.dumps(summary))


def test_set_cfg_options_with_a_pipeline_entry_warn_once(tmp_path):
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        load_benchmark_set(write_set(tmp_path, (
            "cfg_options = {'train_cfg.max_epochs': 2}\n"
            "entries = [dict(name='p', pipeline='@P'),\n"
            "           dict(name='q', pipeline='@P', cfg_options={'x': 1}),\n"
            "           dict(name='c', config='@A')]\n")))
        load_benchmark_set(write_set(tmp_path, (
            "entries = [dict(name='p', pipeline='@P')]\n")))
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert len(messages) == 1
    assert ("cfg_options apply to config= entries only, not to the pipeline "
            "entries ['p', 'q']") in messages[0]


@pytest.mark.parametrize(
    'path',
    sorted(glob.glob(osp.join(REPO, 'configs', 'benchmarks', '*.py'))) +
    sorted(glob.glob(osp.join(REPO, 'projects', '*', 'benchmark*.py'))),
    ids=lambda path: osp.relpath(path, REPO))
def test_shipped_sets_load_and_their_options_exist(path, monkeypatch):
    monkeypatch.chdir(REPO)  # entry paths are relative to the repository
    bench_set = load_benchmark_set(path)
    for entry in bench_set.entries:
        build_stages(pipeline_config(entry, bench_set.cfg_options))
        if entry.config is None:
            continue
        # every budget key names a key of the config (no silent typo)
        cfg = Config.fromfile(entry.config)
        for key in {**bench_set.cfg_options, **entry.cfg_options}:
            node = cfg
            for part in key.split('.'):
                node = node[int(part) if isinstance(node, list) else part]
