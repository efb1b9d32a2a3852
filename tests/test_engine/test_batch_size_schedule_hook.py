"""BatchSizeScheduleHook with a real mmengine Runner on a toy problem."""
from types import SimpleNamespace
from typing import Optional

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim.scheduler import LinearLR, PolyLR
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from wsstool.engine import BatchSizeScheduleHook
from wsstool.registry import DATASETS, MODELS
from wsstool.utils import setup_checkpoint_io

LR = 0.1
POWER = 0.9
SEED = 7


@DATASETS.register_module()
class BatchScheduleToyDataset(Dataset):
    """Sample i is the scalar i, so a batch shows which samples it holds."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index)]))


@MODELS.register_module()
class BatchScheduleToyModel(BaseModel):
    """A 1-to-1 linear layer with a squared-output loss; records the epochs
    it is told by ``set_epoch``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def forward(self, inputs: torch.Tensor, mode: str = 'loss') -> dict:
        return dict(loss=self.linear(inputs / 10).pow(2).mean())


class StepRecorder(Hook):
    """Records the train batch size at the start of training and, for every
    iteration, the lr it uses and the samples it sees."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.batch_size_before_train: Optional[int] = None
        self.lrs: list[float] = []
        self.batches: list[list[int]] = []
        self.weights: list[float] = []

    def before_train(self, runner) -> None:
        self.batch_size_before_train = runner.train_dataloader.batch_size

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])
        self.batches.append(
            [int(v) for v in data_batch['inputs'].flatten().tolist()])
        self.weights.append(runner.model.linear.weight.item())


class StopBeforeFirstEpoch(Hook):
    """Lets every ``before_train`` hook run, then ends training."""

    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        runner.train_loop.stop_training = True


def poly_schedule(max_epochs: int) -> list:
    return [
        dict(type='PolyLR',
             power=POWER,
             eta_min=0.0,
             by_epoch=True,
             begin=0,
             end=max_epochs,
             convert_to_iter_based=True)
    ]


def build_runner(work_dir,
                 *,
                 hooks: list,
                 num_samples: int = 18,
                 batch_size: int = 2,
                 drop_last: bool = True,
                 max_epochs: int = 5,
                 param_scheduler: Optional[list] = None,
                 resume_from: Optional[str] = None,
                 accumulative_counts: int = 1,
                 model_type: str = 'BatchScheduleToyModel') -> tuple:
    """A CPU runner over ``BatchScheduleToyDataset`` (shuffled, seeded) with
    a poly lr and one checkpoint per epoch; returns (runner, recorder)."""
    cfg = Config(
        dict(
            model=dict(type=model_type),
            work_dir=str(work_dir),
            train_dataloader=dict(dataset=dict(type='BatchScheduleToyDataset',
                                               length=num_samples),
                                  sampler=dict(type='DefaultSampler',
                                               shuffle=True),
                                  collate_fn=dict(type='default_collate'),
                                  batch_size=batch_size,
                                  drop_last=drop_last,
                                  num_workers=0),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=LR, momentum=0.9),
                               accumulative_counts=accumulative_counts),
            param_scheduler=param_scheduler or poly_schedule(max_epochs),
            custom_hooks=hooks,
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1)),
            default_scope='wsstool',
            randomness=dict(seed=SEED),
            log_level='WARNING',
            resume=resume_from is not None,
            load_from=resume_from,
        ))
    setup_checkpoint_io()
    runner = Runner.from_cfg(cfg)
    recorder = StepRecorder()
    runner.register_hook(recorder)
    return runner, recorder


def schedule_hook(schedule: dict, mode: str = 'actual') -> dict:
    return dict(type='BatchSizeScheduleHook',
                schedule=schedule,
                scheduler_max_iters=mode)


def closed_form_poly(step: int, total_steps: int) -> float:
    """mmengine's chained PolyLR in closed form: step ``i`` of a schedule
    over ``total_steps`` uses ``lr * (1 - i / (total_steps - 1)) ** power``."""
    return LR * (1 - step / (total_steps - 1))**POWER


@pytest.mark.parametrize(
    'drop_last, lengths',
    [
        (True, [9, 9, 4, 4, 4]),  # 18 // 2, 18 // 4
        (False, [9, 9, 5, 5, 5]),  # ceil(18 / 4)
    ])
def test_batches_switch_and_poly_ends_at_the_last_real_step(
        tmp_path, drop_last, lengths):
    runner, recorder = build_runner(tmp_path,
                                    hooks=[schedule_hook({2: 4})],
                                    drop_last=drop_last)
    runner.train()

    total = sum(lengths)
    # without drop_last the last batch of each big-batch epoch holds 2
    big_epoch = [4] * 4 if drop_last else [4] * 4 + [2]
    assert [len(b) for b in recorder.batches] == [2] * 18 + big_epoch * 3
    assert runner.iter == runner.max_iters == total
    # each epoch reads DefaultSampler's permutation for seed + epoch, also
    # after the switch (same seed, sampler epoch set after the rebuild)
    start = 0
    for epoch, length in enumerate(lengths):
        seen = sum(recorder.batches[start:start + length], [])
        permutation = torch.randperm(
            18, generator=torch.Generator().manual_seed(SEED + epoch))
        assert seen == permutation.tolist()[:len(seen)]
        assert len(seen) == (16 if drop_last and epoch >= 2 else 18)
        start += length
    expected = [closed_form_poly(i, total) for i in range(total)]
    assert recorder.lrs == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert recorder.lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_first_batch_size_reproduces_the_reference_max_step(tmp_path):
    runner, recorder = build_runner(
        tmp_path, hooks=[schedule_hook({2: 4}, 'first_batch_size')])
    runner.train()

    real_steps, reference_max_step = 2 * 9 + 3 * 4, 5 * 9
    assert runner.max_iters == len(recorder.lrs) == real_steps
    expected = [
        closed_form_poly(i, reference_max_step) for i in range(real_steps)
    ]
    assert recorder.lrs == pytest.approx(expected, rel=1e-9)
    assert recorder.lrs[-1] / LR == pytest.approx((1 - 29 / 44)**POWER)


def test_gradient_accumulation_steps_at_the_last_real_iteration(tmp_path):
    # 30 real iterations, 4 accumulated per update: the last update takes
    # the remaining 2 (with the first-batch-size count, 45, it never came)
    runner, recorder = build_runner(
        tmp_path,
        hooks=[schedule_hook({2: 4}, 'first_batch_size')],
        accumulative_counts=4)
    runner.train()

    updated = [
        after != before for before, after in zip(
            recorder.weights, recorder.weights[1:] +
            [runner.model.linear.weight.item()])
    ]
    assert [i for i, changed in enumerate(updated)
            if changed] == [*range(3, 28, 4), 29]


def test_warmup_fractional_epochs_and_iteration_schedulers(tmp_path):
    param_scheduler = [
        # converted, ends half-way through epoch 2 (batch 4: 4 iterations)
        dict(type='LinearLR',
             start_factor=0.5,
             by_epoch=True,
             begin=0,
             end=2.5,
             convert_to_iter_based=True),
        # converted, no `end`: the runner's default (max_epochs)
        dict(type='PolyLR',
             power=POWER,
             by_epoch=True,
             begin=2.5,
             convert_to_iter_based=True),
        # given in iterations: must not move
        dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=3, end=7),
        # stepped per epoch: must not move
        dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=1, end=2),
    ]
    runner, _ = build_runner(tmp_path,
                             hooks=[schedule_hook({2: 4})],
                             param_scheduler=param_scheduler)
    runner.train()

    warmup, poly, iters, epochs = runner.param_schedulers
    # iterations before epoch 2.5: 9 + 9 + int(0.5 * 4); before epoch 5: 30
    assert (warmup.begin, warmup.end, warmup.total_iters) == (0, 20, 19)
    assert (poly.begin, poly.end, poly.total_iters) == (20, 30, 9)
    assert (iters.begin, iters.end, iters.by_epoch) == (3, 7, False)
    assert (epochs.begin, epochs.end, epochs.by_epoch) == (1, 2, True)


@pytest.mark.parametrize('resume_epoch', [1, 3])
def test_resume_continues_batches_and_lr_of_a_straight_run(
        tmp_path, resume_epoch):
    straight, straight_steps = build_runner(tmp_path / 'straight',
                                            hooks=[schedule_hook({2: 4})])
    straight.train()

    checkpoint = str(tmp_path / 'straight' / f'epoch_{resume_epoch}.pth')
    resumed, resumed_steps = build_runner(tmp_path / 'resumed',
                                          hooks=[schedule_hook({2: 4})],
                                          resume_from=checkpoint)
    resumed.train()

    # iterations before the resumed epoch: 9 per batch-2 epoch, then 4
    done = {1: 9, 3: 9 + 9 + 4}[resume_epoch]
    assert resumed.max_iters == straight.max_iters == 30
    assert resumed_steps.batches == straight_steps.batches[done:]
    assert resumed_steps.lrs == straight_steps.lrs[done:]
    # the loader is switched before training starts (logging hooks see it)
    first_size = 2 if resume_epoch < 2 else 4
    assert resumed_steps.batch_size_before_train == first_size
    assert len(resumed_steps.batches[0]) == first_size
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value)
    # the restored scheduler state is the rescaled one, rescaled only once
    poly = resumed.param_schedulers[0]
    assert (poly.begin, poly.end, poly.total_iters) == (0, 30, 29)


# VOC train_aug (10,582 images), batch 8 before the switch, 40 epochs
KTSE_SCHEDULE = {10: 16}
AEFT_SCHEDULE = {18: 32}


@pytest.mark.parametrize('schedule, mode, real_steps, end_ratio', [
    (KTSE_SCHEDULE, 'actual', 10 * 1322 + 30 * 661, 0.0),
    (KTSE_SCHEDULE, 'first_batch_size', 33050, 0.41),
    (AEFT_SCHEDULE, 'first_batch_size', 18 * 1322 + 22 * 330, 0.45),
])
def test_reference_step_counts(tmp_path, schedule, mode, real_steps,
                               end_ratio):
    runner, _ = build_runner(tmp_path,
                             hooks=[schedule_hook(schedule, mode)],
                             num_samples=10582,
                             batch_size=8,
                             max_epochs=40)
    runner.register_hook(StopBeforeFirstEpoch())
    runner.train()

    poly = runner.param_schedulers[0]
    max_step = real_steps if mode == 'actual' else 40 * 1322
    assert runner.max_iters == real_steps
    assert (poly.begin, poly.end) == (0, max_step)
    last_lr = closed_form_poly(real_steps - 1, poly.total_iters + 1)
    assert last_lr / LR == pytest.approx(end_ratio, abs=0.005)


def test_multi_optimizer_schedulers_are_paired_with_their_configs():
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=LR)
    converted = dict(type='PolyLR',
                     by_epoch=True,
                     begin=0,
                     end=3,
                     convert_to_iter_based=True)
    in_iters = dict(type='LinearLR', by_epoch=False, begin=0, end=4)
    built = dict(a=[PolyLR(optimizer, begin=0, end=9, by_epoch=False)],
                 b=[LinearLR(optimizer, begin=0, end=4, by_epoch=False)])
    runner = SimpleNamespace(
        param_schedulers=built,
        cfg=Config(dict(param_scheduler=dict(a=[converted], b=in_iters))))
    pairs = list(BatchSizeScheduleHook._converted_schedulers(runner))
    assert pairs == [(converted, built['a'][0])]


@pytest.mark.parametrize('kwargs, error, words', [
    (dict(schedule={}), TypeError, 'non-empty dict'),
    (dict(schedule=[(2, 4)]), TypeError, 'non-empty dict'),
    (dict(schedule={-1: 4}), ValueError, 'key -1'),
    (dict(schedule={2: 0}), ValueError, 'schedule[2] = 0'),
    (dict(schedule={2: 4},
          scheduler_max_iters='reference'), ValueError, "'reference'"),
])
def test_bad_arguments_are_named(kwargs, error, words):
    with pytest.raises(error) as info:
        BatchSizeScheduleHook(**kwargs)
    assert words in str(info.value)


def test_unsupported_converted_scheduler_is_named(tmp_path):
    param_scheduler = [
        dict(type='MultiStepLR',
             milestones=[2],
             by_epoch=True,
             convert_to_iter_based=True)
    ]
    runner, _ = build_runner(tmp_path,
                             hooks=[schedule_hook({2: 4})],
                             param_scheduler=param_scheduler)
    with pytest.raises(TypeError, match='cannot rescale MultiStepLR'):
        runner.train()


def test_batch_sampler_config_is_rejected(tmp_path):
    runner, _ = build_runner(tmp_path, hooks=[schedule_hook({2: 4})])
    runner.cfg.train_dataloader.batch_sampler = dict(type='BatchSampler')
    with pytest.raises(ValueError, match='train_dataloader.batch_sampler'):
        runner.train()
