"""The pipeline runner on stand-in stages (no subprocess), the stage
configs, records, results and the metrics each real stage reads."""
import json
import os
import os.path as osp
import shutil
import sys

import pytest
from mmengine.config import Config

from tests.tool_loader import load_tool
from wsstool.apis.pipeline import (BaseStage, EvalCAMStage, InferCAMStage,
                                   PipelineContext,
                                   RefineStage, StageFailed, StageRecord,
                                   TestStage, TrainStage, build_stages,
                                   results_markdown, run_pipeline,
                                   settings_hash)
from wsstool.apis.pipeline.stage_config import build_stage_config
from wsstool.registry import PIPELINE_STAGES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@PIPELINE_STAGES.register_module(force=True)
class RecordingStage(BaseStage):
    """Writes ``value`` (placeholders filled) to ``out.txt`` and logs every
    run to ``<work_dir>/runs.log``; fails while ``<work_dir>/fail_<name>``
    exists, which the failure removes (an interrupted run)."""

    def __init__(self, name, value, metric=None):
        super().__init__(name)
        self.value = value
        self.metric = metric

    def spec(self, ctx):
        return dict(value=ctx.resolve(self.value, self.name))

    def run(self, ctx, resume):
        with open(osp.join(ctx.work_dir, 'runs.log'), 'a') as f:
            f.write(f'{self.name} resume={resume}\n')
        flag = osp.join(ctx.work_dir, f'fail_{self.name}')
        if osp.exists(flag):
            os.remove(flag)
            raise StageFailed(f'{self.name} interrupted')
        with open(osp.join(ctx.stage_dir(self.name), 'out.txt'), 'w') as f:
            f.write(self.spec(ctx)['value'])

    def outputs(self, ctx):
        return dict(
            super().outputs(ctx),
            value=self.spec(ctx)['value'],
            file=osp.join(ctx.stage_dir(self.name), 'out.txt'))

    def metrics(self, ctx):
        if self.metric is None:
            return {}
        with open(osp.join(ctx.stage_dir(self.name), 'out.txt')) as f:
            return {self.metric: float(len(f.read()))}


def _pipeline(b_value='b({a.value})'):
    return Config(
        dict(stages=[
            dict(type='RecordingStage', name='a', value='a', metric='cam_miou'),
            dict(type='RecordingStage', name='b', value=b_value,
                 metric='pseudo_label_miou'),
            dict(type='RecordingStage', name='c', value='c({b.value})',
                 metric='seg_miou_ss'),
        ]))


def _runs(work_dir):
    with open(osp.join(work_dir, 'runs.log')) as f:
        runs = f.read().split('\n')[:-1]
    os.remove(osp.join(work_dir, 'runs.log'))
    return runs


def test_runs_every_stage_and_passes_outputs_on(tmp_path):
    work_dir = str(tmp_path)
    results = run_pipeline(_pipeline(), work_dir, seed=4)
    assert _runs(work_dir) == ['a resume=False', 'b resume=False',
                               'c resume=False']
    with open(tmp_path / 'c' / 'out.txt') as f:
        assert f.read() == 'c(b(a))'
    assert results['metrics'] == dict(
        cam_miou=1., pseudo_label_miou=4., seg_miou_ss=7.)
    assert [s['name'] for s in results['stages']] == ['a', 'b', 'c']
    assert results['seed'] == 4 and results['pipeline'] == '<in memory>'
    assert results['total_seconds'] == pytest.approx(
        sum(s['seconds'] for s in results['stages']))
    with open(tmp_path / 'results.json') as f:
        assert json.load(f) == results
    with open(tmp_path / 'results.md') as f:
        assert f.read() == results_markdown(results)
    for name in 'abc':
        record = StageRecord.load(str(tmp_path / name))
        assert (record.status, record.attempts) == ('done', 1)


def test_rerun_reuses_finished_stages(tmp_path):
    work_dir = str(tmp_path)
    first = run_pipeline(_pipeline(), work_dir)
    _runs(work_dir)
    again = run_pipeline(_pipeline(), work_dir)
    assert not osp.exists(tmp_path / 'runs.log')
    assert all(s['reused'] for s in again['stages'])
    assert again['metrics'] == first['metrics']


def test_interrupted_stage_resumes_to_the_same_results(tmp_path):
    straight = run_pipeline(_pipeline(), str(tmp_path / 'straight'))
    work_dir = str(tmp_path / 'interrupted')
    os.makedirs(work_dir)
    open(osp.join(work_dir, 'fail_b'), 'w').close()
    with pytest.raises(StageFailed, match='b interrupted'):
        run_pipeline(_pipeline(), work_dir)
    record = StageRecord.load(osp.join(work_dir, 'b'))
    assert (record.status, record.attempts) == ('running', 1)
    assert not osp.exists(osp.join(work_dir, 'c'))

    resumed = run_pipeline(_pipeline(), work_dir)
    assert _runs(work_dir) == ['a resume=False', 'b resume=False',
                               'b resume=True', 'c resume=False']
    assert [s['reused'] for s in resumed['stages']] == [True, False, False]
    assert StageRecord.load(osp.join(work_dir, 'b')).attempts == 2
    assert resumed['metrics'] == straight['metrics']


def test_changed_stage_reruns_it_and_every_later_stage(tmp_path):
    work_dir = str(tmp_path)
    run_pipeline(_pipeline(), work_dir)
    _runs(work_dir)
    stale = tmp_path / 'b' / 'stale.txt'
    stale.write_text('from the old settings')
    changed = run_pipeline(_pipeline(b_value='B({a.value})'), work_dir)
    assert _runs(work_dir) == ['b resume=False', 'c resume=False']
    assert [s['reused'] for s in changed['stages']] == [True, False, False]
    assert not stale.exists()  # the stage folder was cleared
    with open(tmp_path / 'c' / 'out.txt') as f:
        assert f.read() == 'c(B(a))'


def test_settings_hash_chains_the_stages():
    spec = dict(config=dict(lr=0.1))
    assert settings_hash('u', 'T', spec) == settings_hash('u', 'T', spec)
    assert settings_hash('u', 'T', spec) != settings_hash('v', 'T', spec)
    assert settings_hash('u', 'T', spec) != settings_hash(
        'u', 'T', dict(config=dict(lr=0.2)))


@pytest.mark.parametrize('stages, match', [
    ([dict(type='RecordingStage', name='a', value='x'),
      dict(type='RecordingStage', name='a', value='y')], 'two stages'),
    ([dict(type='RecordingStage', name='a', value='{b.value}'),
      dict(type='RecordingStage', name='b', value='y')], 'not earlier'),
    ([dict(type='TestStage', name='t', train='missing')], 'not earlier'),
    ([dict(type='RecordingStage', value='y')], 'needs `type` and `name`'),
    ([dict(type='RecordingStage', name='a-b', value='y')], 'identifier'),
    ([dict(type='TestStage', name='t', train='a', modes=('x', ))],
     'modes'),
    ([dict(type='RefineStage', name='r', config='c.py',
           step='pseudo-labels', cams='a')], '`model`'),
    ([dict(type='RefineStage', name='r', config='c.py', step='walk',
           cams='a')], 'step'),
])
def test_bad_pipelines_are_named(stages, match):
    with pytest.raises((KeyError, ValueError), match=match):
        build_stages(Config(dict(stages=stages)))


def test_context_fills_placeholders():
    ctx = PipelineContext(
        work_dir='w', data_root='d', seed=3,
        outputs=dict(cam=dict(checkpoint='c.pth')))
    value = dict(a=['{cam.checkpoint}', ('{data_root}/x', 1)],
                 b='{work_dir}-{seed}')
    assert ctx.resolve(value, 's') == dict(
        a=['c.pth', ('d/x', 1)], b='w-3')
    with pytest.raises(KeyError, match="cannot fill '{irn.checkpoint}'"):
        ctx.resolve('{irn.checkpoint}', 's')
    with pytest.raises(KeyError, match="has \\['checkpoint'\\]"):
        ctx.output('cam', 'config', 's')


def test_tool_commands():
    ctx = PipelineContext(work_dir='w', nproc=2, python='py')
    plain = ctx.tool_command('evaluate', ['--x'])
    assert plain[0] == 'py' and plain[1].endswith(osp.join('tools',
                                                           'evaluate.py'))
    assert plain[2:] == ['--x']
    dist = ctx.tool_command('train', ['cfg.py'], distributed=True)
    assert dist[:4] == ['py', '-m', 'torch.distributed.run',
                        '--nproc_per_node=2']
    assert dist[-3:] == ['cfg.py', '--launcher', 'pytorch']
    single = PipelineContext(work_dir='w', python=sys.executable)
    assert len(single.tool_command('train', [], distributed=True)) == 2


def test_stage_config_applies_root_common_options_seed_then_own(tmp_path):
    path = tmp_path / 'model_cfg.py'
    path.write_text(
        "train_dataloader = dict(dataset=dict(type='Wrap', dataset=dict("
        "data_root='a', generator_cfg=dict(seed=0))))\n"
        "test_dataloader = dict(dataset=dict(data_root='a'))\n"
        "pipeline = [dict(size=1)]\n"
        "randomness = dict(seed=0)\n")
    cfg = build_stage_config(
        str(path), 'root', {
            'train_dataloader.dataset.generator_cfg': dict(seed=9),
            'train_dataloader.dataset.dataset.generator_cfg': dict(seed=5),
            'pipeline.0.size': 2,
            'pipeline.3.size': 4,
            'val_dataloader.batch_size': 2,
        }, {'pipeline.0.size': 3}, seed=7)
    assert cfg.train_dataloader.dataset.dataset.data_root == 'root'
    assert cfg.test_dataloader.dataset.data_root == 'root'
    assert cfg.train_dataloader.dataset.dataset.generator_cfg.seed == 5
    assert 'generator_cfg' not in cfg.train_dataloader.dataset
    assert 'val_dataloader' not in cfg and len(cfg.pipeline) == 1
    assert cfg.pipeline[0].size == 3 and cfg.randomness.seed == 7
    with pytest.raises(FileNotFoundError, match='missing.py'):
        build_stage_config('missing.py', None, {}, {})


def _write_json(path, content):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(content, f)


def test_test_stage_reads_segmentation_and_cam_metrics(tmp_path):
    ctx = PipelineContext(work_dir=str(tmp_path))
    stage = TestStage('test', train='seg', modes=('ss', 'tta_crf'))
    _write_json(str(tmp_path / 'test' / 'ss' / 'metrics.json'),
                {'seg/mIoU': 40.5, 'seg/aAcc': 80.})
    _write_json(str(tmp_path / 'test' / 'tta_crf' / 'metrics.json'),
                {'seg/mIoU': 44.25})
    assert stage.metrics(ctx) == dict(seg_miou_ss=40.5,
                                      seg_miou_tta_crf=44.25)

    cam = TestStage('cam_test', train='cam')
    _write_json(str(tmp_path / 'cam_test' / 'ss' / 'metrics.json'),
                {'cam/mIoU': 30., 'cam/best_threshold': 0.2})
    _write_json(str(tmp_path / 'cam_test' / 'ss' / 'cam_iou_curve.json'),
                dict(thresholds=[0.1, 0.2], mIoU=[25., 30.], mRecall=[1, 2]))
    assert cam.metrics(ctx) == dict(
        cam_miou=30., cam_threshold=0.2,
        cam_curve=dict(thresholds=[0.1, 0.2], miou=[25., 30.]))


def test_refine_and_cam_eval_stages_read_their_tools_results(tmp_path):
    ctx = PipelineContext(work_dir=str(tmp_path))
    _write_json(str(tmp_path / 'pl' / 'eval.json'), dict(metrics={
        'seg/mIoU': 50., 'conf/precision': 70., 'conf/coverage': 45.}))
    stage = RefineStage('pl', 'irn.py', 'pseudo-labels', cams='c', model='m')
    assert stage.metrics(ctx) == dict(
        pseudo_label_miou=50., conf_mask_precision=70.,
        conf_mask_coverage=45.)
    _write_json(str(tmp_path / 'ce' / 'cam_eval.json'), dict(metrics={
        'cam/mIoU': 33., 'cam/best_threshold': 0.3,
        'cam/mIoU_curve': {'0.2': 31., '0.3': 33.}}))
    assert EvalCAMStage('ce', cams='c').metrics(ctx) == dict(
        cam_miou=33., cam_threshold=0.3,
        cam_curve=dict(thresholds=[0.2, 0.3], miou=[31., 33.]))


def test_train_stage_output_is_the_last_checkpoint(tmp_path):
    config = tmp_path / 'c.py'
    config.write_text('randomness = dict(seed=0)\n')
    ctx = PipelineContext(work_dir=str(tmp_path))
    stage = TrainStage('train', str(config))
    with pytest.raises(FileNotFoundError, match='saved no checkpoint'):
        stage.outputs(ctx)
    (tmp_path / 'train').mkdir()
    (tmp_path / 'train' / 'last_checkpoint').write_text(
        str(tmp_path / 'train' / 'epoch_2.pth'))
    assert stage.outputs(ctx)['checkpoint'] == str(
        tmp_path / 'train' / 'epoch_2.pth')
    hooks = stage.stage_config(ctx).custom_hooks
    assert [h['type'] for h in hooks] == ['EpochSeedHook']


def test_a_corrupt_record_is_named(tmp_path):
    (tmp_path / 'stage.json').write_text('{not json')
    with pytest.raises(ValueError, match='stage.json is not a stage record'):
        StageRecord.load(str(tmp_path))


def test_a_folder_without_a_record_is_refused_not_deleted(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'mine.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='holds no stage record'):
        run_pipeline(_pipeline(), str(tmp_path))
    assert (tmp_path / 'a' / 'mine.txt').exists()


def test_a_moved_pipeline_folder_is_refused(tmp_path):
    run_pipeline(_pipeline(), str(tmp_path / 'first'))
    os.rename(tmp_path / 'first', tmp_path / 'moved')
    with pytest.raises(ValueError, match='cannot be\\s+moved or copied'):
        run_pipeline(_pipeline(), str(tmp_path / 'moved'))


def test_a_deleted_stage_folder_reruns_the_later_stages(tmp_path):
    work_dir = str(tmp_path)
    run_pipeline(_pipeline(), work_dir)
    _runs(work_dir)
    shutil.rmtree(tmp_path / 'b')
    again = run_pipeline(_pipeline(), work_dir)
    assert _runs(work_dir) == ['b resume=False', 'c resume=False']
    assert [s['reused'] for s in again['stages']] == [True, False, False]


def test_nested_and_dotted_options_under_one_prefix_both_apply(tmp_path):
    path = tmp_path / 'model_cfg.py'
    path.write_text("a = dict(b=dict(c=1, d=2), e=3)\n")
    cfg = build_stage_config(str(path), None, {}, {
        'a.b.c': 10,
        'a': dict(e=30),  # what --cfg-options a.e=30 gives
    })
    assert cfg.a == dict(b=dict(c=10, d=2), e=30)


def test_markdown_shows_plugin_metrics_after_the_known_columns():
    results = dict(
        pipeline='p.py', work_dir='w', seed=0, total_seconds=75.,
        metrics=dict(seg_miou_ss=40.125, cam_miou=30., label_score=0.5,
                     cam_curve=dict(thresholds=[0.1], miou=[30.])),
        stages=[dict(name='a', type='T', seconds=75., reused=True)])
    lines = results_markdown(results).split('\n')
    assert lines[2] == '| CAM mIoU | seg mIoU (ss) | label_score |'
    assert lines[4] == '| 30.00 | 40.12 | 0.50 |'
    assert '| a | T | 1 min 15 s | reused |' in lines


def test_test_stage_resume_skips_finished_modes(tmp_path, monkeypatch):
    ctx = PipelineContext(work_dir=str(tmp_path))
    config = tmp_path / 'seg.py'
    config.write_text('randomness = dict(seed=0)\n')
    ctx.outputs['seg'] = dict(config=str(config), checkpoint='ckpt.pth')
    stage = TestStage('test', train='seg', modes=('ss', 'tta'))
    _write_json(str(tmp_path / 'test' / 'ss' / 'metrics.json'), {})
    commands = []
    monkeypatch.setattr(stage, 'execute', commands.append)
    stage.run(ctx, resume=True)
    assert [c[c.index('--out') + 1] for c in commands] == [
        str(tmp_path / 'test' / 'tta')]
    stage.run(ctx, resume=False)
    assert len(commands) == 3


def test_stage_commands_parse_with_the_tools_own_arguments(
        tmp_path, monkeypatch):
    """Every command the demo pipeline's stages run is accepted by its
    tool's argument parser, with the values the stage meant."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'pipelines',
                                   'ktse_irn_beco_synthvoc.py'))
    ctx = PipelineContext(work_dir=str(tmp_path), data_root='data/synthvoc')
    stages = build_stages(cfg)
    commands = []
    for stage in stages:
        monkeypatch.setattr(stage, 'execute', commands.append)
        stage.run(ctx, resume=True)
        ctx.outputs[stage.name] = dict(
            dir=ctx.stage_dir(stage.name),
            config=osp.join(ctx.stage_dir(stage.name), 'config.py'),
            checkpoint=f'{stage.name}.pth', cams=f'{stage.name}/cams',
            classes=['background', 'a'], relation_labels='rl',
            pseudo_labels='pl', conf_masks='cm')
    parsed = {}
    for command in commands:
        tool = osp.splitext(osp.basename(command[1]))[0]
        monkeypatch.setattr(sys, 'argv', command[1:])
        parsed.setdefault(tool, []).append(load_tool(tool).parse_args())
    assert sorted(parsed) == ['evaluate', 'infer_cam', 'make_pseudo_labels',
                              'test', 'train']
    train = parsed['train']
    assert [osp.basename(osp.dirname(a.config)) for a in train] == [
        'cam', 'irn', 'seg']
    assert all(a.resume is None for a in train)  # nothing to resume from
    infer, = parsed['infer_cam']
    assert (infer.checkpoint, infer.formats) == ('cam.pth', ['npz'])
    evaluate, = parsed['evaluate']
    assert (evaluate.pred, evaluate.num_classes) == ('cams/cams', 2)
    steps = parsed['make_pseudo_labels']
    assert [(a.step, a.checkpoint) for a in steps] == [
        ('relation-labels', None), ('pseudo-labels', 'irn.pth')]
    tests = parsed['test']
    assert [(a.tta, a.crf) for a in tests] == [(False, False), (True, False),
                                             (True, True)]
    assert all(a.checkpoint == 'seg.pth' for a in tests)
    # the written stage configs hold the wiring of the placeholders
    irn = Config.fromfile(str(tmp_path / 'irn' / 'config.py'))
    assert irn.model.backbone.init_cfg.checkpoint == 'cam.pth'
    assert irn.train_dataloader.dataset.data_prefix.seg_map_path == 'rl'


def test_config_stage_names_the_dataset_classes_without_a_scope(tmp_path):
    """The classes come from the dataset without building its transforms
    (the controller process has no default scope to find them in)."""
    config = tmp_path / 'c.py'
    config.write_text(
        "test_dataloader = dict(dataset=dict(type='SynthVOCDataset', "
        "data_root='root', ann_file='ImageSets/Segmentation/val.txt', "
        "generator_cfg=dict(num_classes=2, num_train_aug=2, num_train=1, "
        "num_val=1, image_size=32), "
        "pipeline=[dict(type='NoSuchTransform')]))\n")
    ctx = PipelineContext(
        work_dir=str(tmp_path), data_root=str(tmp_path / "d"))
    stage = InferCAMStage('cams', train='cam')
    ctx.outputs['cam'] = dict(config=str(config), checkpoint='c.pth')
    outputs = stage.outputs(ctx)
    assert outputs['dataset'] == 'SynthVOCDataset'
    assert outputs['classes'][0] == 'background' and len(
        outputs['classes']) == 3
