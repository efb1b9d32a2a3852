"""The pipeline's results table: metrics of every stage, time per stage,
and the folders worth looking at, as JSON and markdown."""
import json
import os.path as osp
from typing import Any, Dict, List

from wsstool.fileio import atomic_write

# (metric key, column title) of the results table, in order
METRIC_COLUMNS = (
    ('cam_miou', 'CAM mIoU'),
    ('cam_threshold', 'CAM threshold'),
    ('pseudo_label_miou', 'pseudo-label mIoU'),
    ('conf_mask_precision', 'conf-mask precision'),
    ('conf_mask_coverage', 'conf-mask coverage'),
    ('seg_miou_ss', 'seg mIoU (ss)'),
    ('seg_miou_tta', 'seg mIoU (TTA)'),
    ('seg_miou_crf', 'seg mIoU (CRF)'),
    ('seg_miou_tta_crf', 'seg mIoU (TTA + CRF)'),
)
RESULTS_FILE = 'results.json'
# stage outputs gathered into results["artifacts"] (tools/visualize.py)
ARTIFACT_KEYS = ('dataset', 'classes', 'cams', 'cam_split', 'pseudo_labels',
                 'conf_masks', 'pseudo_label_split', 'predictions',
                 'prediction_split')


def collect_results(pipeline: str, work_dir: str, data_root: Any,
                    seed: Any, stages: List[Dict[str, Any]],
                    outputs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Merge the stage records into the results dict.

    Args:
        stages: One dict per stage, in order: ``name``, ``type``,
            ``seconds``, ``reused``, ``hash`` and ``metrics``.
        outputs: Outputs of every stage by name.
    """
    metrics: Dict[str, Any] = {}
    for stage in stages:
        metrics.update(stage['metrics'])
    artifacts = {} if data_root is None else dict(
        data_root=osp.abspath(data_root))
    for stage_outputs in outputs.values():
        artifacts.update({
            key: stage_outputs[key]
            for key in ARTIFACT_KEYS if stage_outputs.get(key) is not None
        })
    return dict(
        pipeline=pipeline,
        work_dir=osp.abspath(work_dir),
        seed=seed,
        metrics=metrics,
        stages=[{k: v
                 for k, v in stage.items() if k != 'metrics'}
                for stage in stages],
        total_seconds=sum(stage['seconds'] for stage in stages),
        artifacts=artifacts)


def results_markdown(results: Dict[str, Any]) -> str:
    """The metrics as a one-row table, then the time of every stage."""
    metrics = results['metrics']
    known = dict(METRIC_COLUMNS)
    # the known columns in order, then scalar metrics of plugin stages
    columns = [(k, t) for k, t in METRIC_COLUMNS if k in metrics] + [
        (k, k) for k, v in metrics.items()
        if k not in known and isinstance(v, (int, float, str))
    ]
    lines = [f'Pipeline {results["pipeline"]} (work dir '
             f'{results["work_dir"]}, seed {results["seed"]})', '']
    if columns:
        lines += [
            '| ' + ' | '.join(title for _, title in columns) + ' |',
            '|' + '---|' * len(columns),
            '| ' + ' | '.join(_format(metrics[k]) for k, _ in columns) +
            ' |', ''
        ]
    lines += ['| stage | type | time | |', '|---|---|---|---|']
    for stage in results['stages']:
        note = 'reused' if stage['reused'] else 'ran'
        lines.append(f'| {stage["name"]} | {stage["type"]} | '
                     f'{format_duration(stage["seconds"])} | {note} |')
    total = format_duration(results['total_seconds'])
    lines.append(f'| total | | {total} | |')
    return '\n'.join(lines) + '\n'


def save_results(results: Dict[str, Any], work_dir: str) -> None:
    """Write ``results.json`` and ``results.md`` into ``work_dir``."""
    with atomic_write(osp.join(work_dir, RESULTS_FILE), 'w') as f:
        json.dump(results, f, indent=2, default=float)
    with atomic_write(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(results_markdown(results))


def load_results(work_dir: str) -> Dict[str, Any]:
    """The ``results.json`` of a finished pipeline run in ``work_dir``."""
    path = osp.join(work_dir, RESULTS_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: expected the work dir of a finished '
            'tools/run_pipeline.py run')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path} is not valid JSON ({error})') from None


def format_duration(seconds: float) -> str:
    """``'5 min 03 s'`` or ``'42 s'``."""
    minutes, secs = divmod(round(seconds), 60)
    return f'{minutes} min {secs:02d} s' if minutes else f'{secs} s'


def _format(value: Any) -> str:
    return f'{value:.2f}' if isinstance(value, float) else str(value)
