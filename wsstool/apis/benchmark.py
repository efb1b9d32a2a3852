"""Benchmark sets: run several stage-1 configs or pipelines with the same
budget and seeds, and compare their metrics.

A set file (``configs/benchmarks/*.py``, read with mmengine's ``Config``)::

    seeds = [0]                                  # --seeds overrides
    cfg_options = {'train_cfg.max_epochs': 12}   # optional shared budget
    entries = [
        dict(name='CAM baseline',
             config='configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py'),
        dict(name='KTSE -> IRN -> BECO',
             pipeline='configs/pipelines/ktse_irn_beco_synthvoc.py'),
    ]

An entry has a ``name`` and exactly one of ``config`` (a stage-1 config,
trained without validation, then tested as a two-stage pipeline) or
``pipeline`` (a pipeline config); paths are relative to the working
directory. The set's ``cfg_options`` apply to the train stage of every
``config`` entry; an entry's own ``cfg_options`` override keys of its
config (``config`` entries, on top of the set's) or of its pipeline config
(``pipeline`` entries). Other names of the set file starting with ``_`` are
helpers of the file and ignored. Every (entry, seed) runs with
:func:`wsstool.apis.pipeline.run_pipeline` in
``<work_dir>/<entry slug>/seed_<seed>/``; the pipeline skips the stages it
has finished, so running a set again resumes it.
"""
import json
import logging
import math
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from wsstool.apis.pipeline import (METRIC_COLUMNS, RESULTS_FILE,
                                   format_duration, load_results,
                                   run_pipeline)
from wsstool.fileio import atomic_write
from wsstool.visualization.benchmark_plots import (cam_curve_figure,
                                                   miou_bar_figure,
                                                   save_figure)

ENTRY_KEYS = ('name', 'config', 'pipeline', 'cfg_options')
SET_KEYS = ('seeds', 'cfg_options', 'entries')
CAM_CURVE = 'cam_curve'
# the train stage of a config entry does not validate: its test stage
# evaluates the last checkpoint
NO_VALIDATION = {'val_dataloader': None, 'val_evaluator': None,
                 'val_cfg': None}
# the folder name plan_runs gives a seed
SEED_FOLDER = re.compile(r'seed_(0|-?[1-9][0-9]*)')


@dataclass
class BenchmarkEntry:
    """One method of a set: a stage-1 ``config`` or a ``pipeline``."""
    name: str
    config: Optional[str] = None
    pipeline: Optional[str] = None
    cfg_options: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """Folder name: the lower-case name with ``+`` spelt ``plus`` and
        runs of other characters than letters and digits replaced by one
        ``-`` (``'KTSE+ -> IRN'`` -> ``'ktse-plus-irn'``)."""
        name = self.name.lower().replace('+', ' plus ')
        return re.sub(r'[^a-z0-9]+', '-', name).strip('-')


@dataclass
class BenchmarkSet:
    """A set file's content, validated."""
    path: str
    seeds: List[int]
    entries: List[BenchmarkEntry]
    cfg_options: dict = field(default_factory=dict)


class BenchmarkRun(NamedTuple):
    """One (entry, seed) of a set and the folder it runs in."""
    entry: BenchmarkEntry
    seed: int
    work_dir: str


def load_benchmark_set(path: str) -> BenchmarkSet:
    """Read and validate a set file.

    Raises:
        FileNotFoundError: The set file, or an entry's config or pipeline
            file, does not exist.
        ValueError: A key is missing, unknown or of the wrong type, an entry
            has both or neither of ``config`` / ``pipeline``, or two entries
            share a name or a folder (slug).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'benchmark set {path} does not exist')
    cfg = Config.fromfile(path)
    unknown = sorted(key for key in cfg.keys()
                     if key not in SET_KEYS and not key.startswith('_'))
    if unknown:
        raise ValueError(f'{path}: unknown keys {unknown}; a benchmark set '
                         f'has {list(SET_KEYS)} (and helper names starting '
                         'with _)')
    seeds = check_seeds(cfg.get('seeds', [0]), f'{path}: seeds')
    cfg_options = _as_dict(cfg.get('cfg_options', {}), f'{path}: cfg_options')
    raw_entries = cfg.get('entries')
    if not raw_entries or not isinstance(raw_entries, (list, tuple)):
        raise ValueError(f'{path}: entries must be a non-empty list of '
                         f"dict(name=..., config=... or pipeline=...), got "
                         f'{raw_entries!r}')
    entries = [_parse_entry(raw, i, path) for i, raw in enumerate(raw_entries)]
    _check_unique(entries, path)
    pipelines = [entry.name for entry in entries if entry.pipeline]
    if cfg_options and pipelines:
        print_log(
            f'{path}: the set\'s cfg_options apply to config= entries only, '
            f'not to the pipeline entries {pipelines} (a pipeline config '
            'sets the budget of its stages; give such an entry its own '
            'cfg_options)', logger='current', level=logging.WARNING)
    return BenchmarkSet(path, seeds, entries, cfg_options)


def check_seeds(seeds, where: str) -> List[int]:
    """A non-empty list of distinct ints, else a ValueError naming
    ``where``."""
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool)
                       for s in seeds) or len(set(seeds)) != len(seeds)):
        raise ValueError(f'{where} must be a non-empty list of distinct '
                         f'ints, got {seeds!r}')
    return list(seeds)


def _as_dict(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f'{where} must be a dict of config keys to values, '
                         f'got {value!r}')
    return dict(value)


def _parse_entry(raw, index: int, path: str) -> BenchmarkEntry:
    where = f'{path}: entries[{index}]'
    if not isinstance(raw, dict):
        raise ValueError(f'{where} must be a dict, got {raw!r}')
    name = raw.get('name')
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f'{where} needs a non-empty name, got {name!r}')
    where = f'{where} ({name!r})'
    unknown = sorted(set(raw.keys()) - set(ENTRY_KEYS))
    if unknown:
        raise ValueError(f'{where}: unknown keys {unknown}; an entry has '
                         f'{list(ENTRY_KEYS)}')
    sources = [key for key in ('config', 'pipeline') if raw.get(key)]
    if len(sources) != 1:
        raise ValueError(f'{where} must set exactly one of config= (a '
                         f'stage-1 config) or pipeline= (a pipeline config), '
                         f'got {sources or "neither"}')
    source = raw[sources[0]]
    if not osp.isfile(source):
        raise FileNotFoundError(
            f'{where}: {sources[0]} file {source} does not exist (paths are '
            'relative to the working directory, usually the repository '
            'root)')
    entry = BenchmarkEntry(
        name=name, cfg_options=_as_dict(
            raw.get('cfg_options', {}), f'{where}: cfg_options'),
        **{sources[0]: source})
    if not entry.slug:
        raise ValueError(f'{where}: the name needs a letter or a digit '
                         '(its letters and digits name its folder)')
    return entry


def _check_unique(entries: Sequence[BenchmarkEntry], path: str) -> None:
    for attribute, what in (('name', 'name'), ('slug', 'folder name')):
        seen: Dict[str, str] = {}
        for entry in entries:
            key = getattr(entry, attribute)
            if key in seen:
                raise ValueError(
                    f'{path}: entries {seen[key]!r} and {entry.name!r} have '
                    f'the same {what} {key!r}; give them distinct names')
            seen[key] = entry.name


def plan_runs(bench_set: BenchmarkSet,
              work_dir: str,
              seeds: Optional[Sequence[int]] = None,
              only: Optional[Sequence[str]] = None) -> List[BenchmarkRun]:
    """Every (entry, seed) to run, entry by entry, in
    ``<work_dir>/<entry slug>/seed_<seed>``.

    Args:
        bench_set: The set.
        work_dir: The benchmark's folder.
        seeds: Overrides the set's seeds.
        only: Names of the entries to keep (all when None).
    """
    seeds = bench_set.seeds if seeds is None else check_seeds(
        list(seeds), '--seeds')
    entries = bench_set.entries
    if only is not None:
        names = [entry.name for entry in entries]
        missing = [name for name in only if name not in names]
        if missing:
            raise ValueError(f'{bench_set.path} has no entries {missing}; '
                             f'its entries are {names}')
        entries = [entry for entry in entries if entry.name in only]
    return [
        BenchmarkRun(entry, seed,
                     osp.join(work_dir, entry.slug, f'seed_{seed}'))
        for entry in entries for seed in seeds
    ]


def pipeline_config(entry: BenchmarkEntry,
                    set_cfg_options: dict,
                    data_root: Optional[str] = None) -> Config:
    """The pipeline config an entry runs.

    A ``config`` entry becomes a train stage (without validation, then with
    the set's and the entry's ``cfg_options``, which may turn it back on)
    and a test stage; a ``pipeline`` entry is its file with the entry's
    ``cfg_options`` merged in. ``data_root``, when given, replaces the
    pipeline's.
    """
    if entry.config is not None:
        cfg_options = {**NO_VALIDATION, **set_cfg_options,
                       **entry.cfg_options}
        cfg = Config(dict(stages=[
            dict(type='TrainStage', name='train', config=entry.config,
                 cfg_options=cfg_options),
            dict(type='TestStage', name='test', train='train',
                 modes=('ss', )),
        ]))
    else:
        cfg = Config.fromfile(entry.pipeline)
        cfg.merge_from_dict(entry.cfg_options)
    if data_root is not None:
        cfg.data_root = data_root
    return cfg


def run_benchmark(bench_set: BenchmarkSet,
                  work_dir: str,
                  seeds: Optional[Sequence[int]] = None,
                  only: Optional[Sequence[str]] = None,
                  nproc: int = 1,
                  data_root: Optional[str] = None) -> dict:
    """Run the (entry, seed) pairs of :func:`plan_runs` with
    ``run_pipeline``, then summarise every finished run of the set in
    ``work_dir`` (:func:`finished_runs`: also those of earlier commands, so
    that ``seeds`` and ``only`` narrow what runs, not what is reported) and
    write ``benchmark.json``, ``benchmark.md`` and the plots into it.

    Returns:
        dict: The summary (content of ``benchmark.json``).
    """
    runs = plan_runs(bench_set, work_dir, seeds, only)
    for i, run in enumerate(runs):
        print_log(f'benchmark run {i + 1}/{len(runs)}: {run.entry.name}, '
                  f'seed {run.seed}, in {run.work_dir}', logger='current')
        cfg = pipeline_config(run.entry, bench_set.cfg_options, data_root)
        run_pipeline(cfg, work_dir=run.work_dir, nproc=nproc, seed=run.seed)
    finished = finished_runs(bench_set, work_dir)
    summary = summarize(finished,
                        [load_results(run.work_dir) for run in finished],
                        bench_set.path, work_dir)
    for path in write_outputs(summary, work_dir):
        print_log(f'wrote {path}', logger='current')
    return summary


def finished_runs(bench_set: BenchmarkSet,
                  work_dir: str) -> List[BenchmarkRun]:
    """Every (entry, seed) of the set with a finished run in ``work_dir``,
    entry by entry, seeds ascending: the ``<entry slug>/seed_<seed>/``
    folders holding a ``results.json`` (``run_pipeline`` deletes it when a
    run starts and writes it when the run ends)."""
    runs = []
    for entry in bench_set.entries:
        folder = osp.join(work_dir, entry.slug)
        names = os.listdir(folder) if osp.isdir(folder) else []
        seeds = sorted(
            int(match.group(1)) for name in names
            if (match := SEED_FOLDER.fullmatch(name))
            and osp.isfile(osp.join(folder, name, RESULTS_FILE)))
        runs += [BenchmarkRun(entry, seed, osp.join(folder, f'seed_{seed}'))
                 for seed in seeds]
    return runs


def mean_std(values: Sequence[float]) -> dict:
    """``{'mean', 'std', 'n'}`` of the values; ``std`` is the sample
    standard deviation (ddof = 1), None for a single value."""
    n = len(values)
    mean = sum(values) / n
    std = (math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))
           if n > 1 else None)
    return dict(mean=mean, std=std, n=n)


def summarize(runs: Sequence[BenchmarkRun], results: Sequence[dict],
              set_path: str, work_dir: str) -> dict:
    """Aggregate the runs' ``results.json`` contents per entry.

    Returns:
        dict: ``set``, ``work_dir``, ``metrics`` (the scalar metric keys
        present, in the order and with the titles of the pipeline's results
        table, then any other key in sorted order, titled by itself) and
        ``entries``, one per entry in run order, each with ``name``,
        ``slug``, ``config`` / ``pipeline``, ``seeds``, ``runs`` (per seed:
        ``seed``, ``work_dir``, scalar ``metrics``, ``total_seconds``),
        ``metrics`` (key -> ``mean_std`` over the seeds that produced it),
        ``seconds`` (``mean_std`` of the runs' ``total_seconds``) and, when
        the runs have CAM curves, ``cam_curve`` (``thresholds``, the mean
        ``miou`` over seeds and their number ``n``).
    """
    by_entry: Dict[str, List[tuple]] = {}
    for run, result in zip(runs, results):
        by_entry.setdefault(run.entry.name, []).append((run, result))
    entries = [_summarize_entry(pairs) for pairs in by_entry.values()]
    present = {key for entry in entries for key in entry['metrics']}
    titles = {key: title for key, title in METRIC_COLUMNS if key in present}
    titles.update((key, key) for key in sorted(present - set(titles)))
    return dict(set=set_path, work_dir=work_dir, metrics=titles,
                entries=entries)


def _summarize_entry(pairs: List[tuple]) -> dict:
    entry = pairs[0][0].entry
    per_run, curves = [], []
    for run, result in pairs:
        metrics = result.get('metrics', {})
        if CAM_CURVE in metrics:
            curves.append((run, metrics[CAM_CURVE]))
        per_run.append(dict(
            seed=run.seed, work_dir=run.work_dir,
            metrics={k: v for k, v in metrics.items()
                     if isinstance(v, (int, float))},
            total_seconds=result.get('total_seconds')))
    keys = {key for run in per_run for key in run['metrics']}
    summary = dict(
        name=entry.name, slug=entry.slug, config=entry.config,
        pipeline=entry.pipeline, seeds=[run['seed'] for run in per_run],
        runs=per_run,
        metrics={key: mean_std([run['metrics'][key] for run in per_run
                                if key in run['metrics']])
                 for key in sorted(keys)})
    seconds = [run['total_seconds'] for run in per_run
               if run['total_seconds'] is not None]
    summary['seconds'] = mean_std(seconds) if seconds else None
    if curves:
        summary[CAM_CURVE] = _mean_curve(curves)
    return summary


def _mean_curve(curves: List[tuple]) -> dict:
    """Mean CAM mIoU per threshold over the (run, curve) pairs of the seeds
    of an entry."""
    thresholds = curves[0][1]['thresholds']
    for run, curve in curves:
        where = f'{run.entry.name!r}, seed {run.seed} ({run.work_dir})'
        if len(curve['miou']) != len(curve['thresholds']):
            raise ValueError(
                f'{where}: its CAM curve has {len(curve["miou"])} mIoU '
                f'values for {len(curve["thresholds"])} thresholds')
        if curve['thresholds'] != thresholds:
            raise ValueError(
                f'{where}: the seeds swept different CAM thresholds '
                f'({thresholds} vs {curve["thresholds"]}); their curves '
                'cannot be averaged')
    miou = [sum(values) / len(values)
            for values in zip(*(curve['miou'] for _, curve in curves))]
    return dict(thresholds=list(thresholds), miou=miou, n=len(curves))


def format_stat(stat: Optional[dict], key: str) -> str:
    """``mean ± std``, the mean alone without a std, ``-`` when missing;
    two decimals for thresholds, one for the percentages."""
    if stat is None:
        return '-'
    decimals = 2 if key.endswith('threshold') else 1
    text = f'{stat["mean"]:.{decimals}f}'
    if stat['std'] is not None:
        text += f' ± {stat["std"]:.{decimals}f}'
    return text


def render_markdown(summary: dict) -> str:
    """The comparison table: method | each metric as mean ± std | seeds |
    time, with a line saying what the numbers are."""
    keys = list(summary['metrics'])
    header = ['method', *summary['metrics'].values(), 'seeds', 'time']
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header),
    ]
    for entry in summary['entries']:
        cells = [entry['name']]
        cells += [format_stat(entry['metrics'].get(k), k) for k in keys]
        seconds = entry['seconds']
        cells += [str(len(entry['seeds'])),
                  '-' if seconds is None else format_duration(seconds['mean'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    note = (f'Benchmark `{summary["set"]}`: mean ± sample standard deviation '
            'over the seeds (the mean alone for one seed; - = not produced); '
            'time = mean wall time of a run.')
    return note + '\n\n' + '\n'.join(lines) + '\n'


def write_outputs(summary: dict, work_dir: str) -> List[str]:
    """Write ``benchmark.json``, ``benchmark.md``, ``miou_bars.png`` and
    ``cam_curves.png`` (each plot only when it has data) atomically.

    Returns:
        list[str]: The paths written.
    """
    paths = [osp.join(work_dir, name)
             for name in ('benchmark.json', 'benchmark.md')]
    with atomic_write(paths[0], 'w') as f:
        json.dump(summary, f, indent=2)
    with atomic_write(paths[1], 'w') as f:
        f.write(render_markdown(summary))
    for figure, name in ((miou_bar_figure(summary), 'miou_bars.png'),
                         (cam_curve_figure(summary), 'cam_curves.png')):
        if figure is not None:
            paths.append(osp.join(work_dir, name))
            save_figure(figure, paths[-1])
    return paths
