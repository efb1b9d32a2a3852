"""The demo pipeline (KTSE -> CAMs -> IRN -> pseudo labels -> BECO -> test)
shrunk to a tiny SynthVOC: every stage end to end, an interrupted run
resumed to the same table, and a changed stage rerunning the later ones."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from mmengine.config import Config

from wsstool.apis.pipeline import METRIC_COLUMNS, StageRecord, run_pipeline

from .conftest import REPO, TINY_GENERATOR

PIPELINE = osp.join(REPO, 'configs', 'pipelines', 'ktse_irn_beco_synthvoc.py')
NUM_CLASSES = TINY_GENERATOR['num_classes'] + 1
STAGES = ('cam', 'cams', 'cam_eval', 'relation_labels', 'irn',
          'pseudo_labels', 'seg', 'seg_test')
# the cut walk and radius of the tiny IRN (48-pixel crops: a 12x12 grid)
TINY_WALK = {
    'model.test_cfg.random_walk.num_steps': 16,
    'model.train_cfg.radius': 5,
}
TINY_STAGE_OPTIONS = {
    'cam': {
        'train_cfg.max_epochs': 2,
        'param_scheduler.1.begin': 0,
        'param_scheduler.1.end': 2,
        'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.dataset.pipeline.4.crop_size': (48, 48),
        'model.head.num_classes': TINY_GENERATOR['num_classes'],
        'model.erase_start_epoch': 1,
        'model.test_cfg.scales': (1.0, ),
    },
    'irn': {
        **TINY_WALK,
        'train_cfg.max_epochs': 1,
        'param_scheduler.0.end': 1,
        'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.pipeline.4.crop_size': (48, 48),
    },
    'pseudo_labels': TINY_WALK,
    'seg': {
        'train_cfg.max_epochs': 2,
        'param_scheduler.0.end': 2,
        'train_dataloader.batch_size': 4,
        'train_dataloader.dataset.pipeline.1.num_classes': NUM_CLASSES,
        'train_dataloader.dataset.pipeline.2.size': (48, 48),
        'test_dataloader.dataset.pipeline.1.num_classes': NUM_CLASSES,
        'model.network.decode_head.num_classes': NUM_CLASSES,
    },
}


def tiny_pipeline(data_root: str) -> Config:
    """The demo pipeline config on the tiny SynthVOC."""
    cfg = Config.fromfile(PIPELINE)
    cfg.data_root = data_root
    common = {'default_hooks.logger.interval': 1}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        common[f'{loader}.num_workers'] = 0
        common[f'{loader}.persistent_workers'] = False
        for dataset in ('dataset', 'dataset.dataset'):
            common[f'{loader}.{dataset}.generator_cfg'] = TINY_GENERATOR
    cfg.common_cfg_options = common
    for stage in cfg.stages:
        if stage.name in TINY_STAGE_OPTIONS:
            stage.setdefault('cfg_options', {}).update(
                TINY_STAGE_OPTIONS[stage.name])
    # single scale and TTA + CRF: every test path, one mode fewer
    cfg.stages[-1].modes = ('ss', 'tta_crf')
    return cfg


def table(results: dict) -> dict:
    """The metric entries of the results (times differ between runs)."""
    return {key: results['metrics'].get(key) for key, _ in METRIC_COLUMNS}


@pytest.fixture(scope='module')
def finished(tiny_synthvoc, tmp_path_factory):
    """One uninterrupted run of the tiny pipeline; its tools (and those of
    the tests using it) run on one thread, so that they repeat results
    exactly."""
    work_dir = str(tmp_path_factory.mktemp('pipeline') / 'work')
    cfg = tiny_pipeline(tiny_synthvoc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('OMP_NUM_THREADS', '1')
        yield cfg, work_dir, run_pipeline(cfg, work_dir)


def test_every_stage_runs_end_to_end(finished, tiny_synthvoc):
    cfg, work_dir, results = finished
    assert [s['name'] for s in results['stages']] == list(STAGES)
    assert not any(s['reused'] for s in results['stages'])
    metrics = results['metrics']
    for key in ('cam_miou', 'pseudo_label_miou', 'conf_mask_precision',
                'seg_miou_ss', 'seg_miou_tta_crf'):
        assert 0 <= metrics[key] <= 100, key
    assert metrics['cam_threshold'] in metrics['cam_curve']['thresholds']
    assert max(metrics['cam_curve']['miou']) == pytest.approx(
        metrics['cam_miou'], abs=0.01)

    # every stage recorded done; the files later stages and tools read
    for name in STAGES:
        assert StageRecord.load(osp.join(work_dir, name)).status == 'done'
    artifacts = results['artifacts']
    split = osp.join(tiny_synthvoc, 'ImageSets', 'Segmentation')
    with open(osp.join(split, 'train_aug.txt')) as f:
        train_ids = f.read().split()
    with open(osp.join(split, 'val.txt')) as f:
        val_ids = f.read().split()
    assert sorted(os.listdir(artifacts['cams'])) == sorted(
        f'{i}.npz' for i in train_ids)
    for key in ('pseudo_labels', 'conf_masks'):
        assert sorted(os.listdir(artifacts[key])) == sorted(
            f'{i}.png' for i in train_ids)
    assert sorted(os.listdir(artifacts['predictions'])) == sorted(
        f'{i}.png' for i in val_ids)
    # the BECO backbone started from the KTSE checkpoint
    seg_cfg = Config.fromfile(osp.join(work_dir, 'seg', 'config.py'))
    cam = StageRecord.load(osp.join(work_dir, 'cam'))
    assert seg_cfg.model.network.backbone.init_cfg.checkpoint == (
        cam.outputs['checkpoint'])

    with open(osp.join(work_dir, 'results.json')) as f:
        assert json.load(f) == json.loads(json.dumps(results))
    with open(osp.join(work_dir, 'results.md')) as f:
        markdown = f.read()
    for _, title in METRIC_COLUMNS:
        if title not in ('seg mIoU (TTA)', 'seg mIoU (CRF)'):
            assert title in markdown


def test_interrupted_run_resumes_to_the_same_table(finished):
    cfg, work_dir, results = finished
    path = osp.join(osp.dirname(work_dir), 'tiny_pipeline.py')
    cfg.dump(path)
    # BECO and its test never ran; the run is killed after BECO's first
    # epoch, then rerun
    for name in ('seg', 'seg_test'):
        subprocess.run(['rm', '-rf', osp.join(work_dir, name)], check=True)
    command = [sys.executable, 'tools/run_pipeline.py', path, '--work-dir',
               work_dir]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, 'PYTHONPATH': REPO})
    first_checkpoint = osp.join(work_dir, 'seg', 'last_checkpoint')
    deadline = time.time() + 300
    while not osp.exists(first_checkpoint) and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    record = StageRecord.load(osp.join(work_dir, 'seg'))
    assert record.status == 'running' and record.attempts == 1

    resumed = run_pipeline(Config.fromfile(path), work_dir)
    reused = {s['name']: s['reused'] for s in resumed['stages']}
    assert reused == {name: name not in ('seg', 'seg_test')
                      for name in STAGES}
    assert StageRecord.load(osp.join(work_dir, 'seg')).attempts == 2
    assert table(resumed) == table(results)


def test_changed_stage_reruns_exactly_the_later_stages(finished):
    cfg, work_dir, results = finished
    cfg.stages[5].cfg_options['refine.conf_mask.ratio'] = 0.3
    changed = run_pipeline(cfg, work_dir)
    reused = {s['name']: s['reused'] for s in changed['stages']}
    assert reused == {
        name: name in ('cam', 'cams', 'cam_eval', 'relation_labels', 'irn')
        for name in STAGES
    }
    assert changed['metrics']['cam_miou'] == results['metrics']['cam_miou']
    assert changed['metrics']['pseudo_label_miou'] == results['metrics'][
        'pseudo_label_miou']
    # a third of the pixels less are confident
    assert changed['metrics']['conf_mask_coverage'] < results['metrics'][
        'conf_mask_coverage']
