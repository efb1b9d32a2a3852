"""Run the stages of a pipeline config in order, reusing finished ones."""
import os
import os.path as osp
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from wsstool.registry import PIPELINE_STAGES
from .base_stage import BaseStage
from .context import PipelineContext
from .records import StageRecord, settings_hash
from .results import (RESULTS_FILE, collect_results, results_markdown,
                      save_results)


def build_stages(cfg: Config) -> List[BaseStage]:
    """Build ``cfg.stages``; every stage name is unique and every stage
    reads only earlier stages."""
    source = cfg.filename or 'the pipeline config'
    if not cfg.get('stages'):
        raise KeyError(f'{source} has no `stages` list')
    stages, seen = [], set()
    for index, stage_cfg in enumerate(cfg.stages):
        if 'name' not in stage_cfg or 'type' not in stage_cfg:
            raise KeyError(f'{source}: stages[{index}] needs `type` and '
                           f'`name`, got {dict(stage_cfg)}')
        stage = PIPELINE_STAGES.build(dict(stage_cfg))
        if stage.name in seen:
            raise ValueError(f'{source}: two stages are named {stage.name!r}')
        unknown = stage.references() - seen
        if unknown:
            raise KeyError(
                f'{source}: stage {stage.name!r} reads {sorted(unknown)}, '
                f'which are not earlier stages (earlier: {sorted(seen)})')
        seen.add(stage.name)
        stages.append(stage)
    return stages


def run_stage(stage: BaseStage, ctx: PipelineContext,
              upstream: str) -> Tuple[StageRecord, bool]:
    """Reuse, resume or (re)start one stage.

    A record with the same settings hash that is ``done`` is reused; one
    that is ``running`` (an interrupted run) resumes; a record of other
    settings is cleared with its folder and the stage starts afresh. A
    folder without a record, or written by a pipeline in another folder, is
    an error (nothing the pipeline did not write is deleted).

    Returns:
        tuple: The finished record and whether it was reused.
    """
    stage_dir = ctx.stage_dir(stage.name)
    work_dir = osp.abspath(ctx.work_dir)
    digest = settings_hash(upstream, type(stage).__name__, stage.spec(ctx))
    record = StageRecord.load(stage_dir)
    if record is None and osp.exists(stage_dir):
        raise FileExistsError(
            f'{stage_dir} exists but holds no stage record: it was not '
            f'written by the pipeline stage {stage.name!r}. Move it away or '
            'choose another work dir')
    if record is not None and record.work_dir != work_dir:
        raise ValueError(
            f'{stage_dir} was written by a pipeline in {record.work_dir}; its '
            'records hold absolute paths, so a pipeline folder cannot be '
            'moved or copied: run in the original folder or a new one')
    if record is not None and record.hash == digest:
        if record.status == 'done':
            print(f'[{stage.name}] reused: finished with the same settings',
                  flush=True)
            return record, True
        print(f'[{stage.name}] resuming an interrupted run', flush=True)
    else:
        if record is not None:
            print(f'[{stage.name}] settings changed: clearing {stage_dir}',
                  flush=True)
            shutil.rmtree(stage_dir)
        record = StageRecord(stage.name, type(stage).__name__, work_dir,
                             digest)
    resume = record.attempts > 0
    record.attempts += 1
    record.save(stage_dir)
    start = time.perf_counter()
    try:
        stage.run(ctx, resume)
    finally:
        record.seconds += time.perf_counter() - start
        record.save(stage_dir)
    record.outputs = stage.outputs(ctx)
    record.metrics = stage.metrics(ctx)
    record.status = 'done'
    record.save(stage_dir)
    return record, False


def run_pipeline(cfg: Config,
                 work_dir: Optional[str] = None,
                 nproc: int = 1,
                 seed: Optional[int] = None) -> Dict[str, Any]:
    """Run the stages of a pipeline config, each in ``work_dir/<name>``,
    and write ``results.json`` and ``results.md`` into ``work_dir``.

    Args:
        cfg: Pipeline config: ``stages`` (PIPELINE_STAGES configs), and
            optionally ``work_dir``, ``data_root``, ``seed``,
            ``common_cfg_options``.
        work_dir: Overrides ``cfg.work_dir`` (default
            ``work_dirs/pipelines/<config name>``).
        nproc: Processes of each distributed stage.
        seed: Overrides ``cfg.seed``.

    Returns:
        dict: The results (see :func:`collect_results`).
    """
    name = osp.splitext(osp.basename(cfg.filename or 'pipeline'))[0]
    work_dir = work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', 'pipelines', name)
    seed = cfg.get('seed') if seed is None else seed
    data_root = cfg.get('data_root')
    ctx = PipelineContext(
        work_dir=work_dir,
        data_root=None if data_root is None else osp.normpath(data_root),
        nproc=nproc,
        seed=seed,
        common_cfg_options=dict(cfg.get('common_cfg_options') or {}))
    stages = build_stages(cfg)
    for name in (RESULTS_FILE, 'results.md'):  # of an earlier run
        if osp.exists(osp.join(work_dir, name)):
            os.remove(osp.join(work_dir, name))
    summaries, upstream = [], ''
    for stage in stages:
        record, reused = run_stage(stage, ctx, upstream)
        ctx.outputs[stage.name] = record.outputs
        summaries.append(
            dict(
                name=stage.name,
                type=record.type,
                seconds=record.seconds,
                reused=reused,
                hash=record.hash,
                metrics=record.metrics))
        upstream = f'{record.hash}:{record.run_id}'
    results = collect_results(cfg.filename or '<in memory>', work_dir,
                              ctx.data_root, seed, summaries, ctx.outputs)
    save_results(results, work_dir)
    print(results_markdown(results), flush=True)
    return results
