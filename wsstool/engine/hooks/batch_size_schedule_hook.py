"""Change the per-process training batch size at given epochs."""
import copy
import math
from typing import Iterator, Union

from mmengine.hooks import Hook
from mmengine.optim.scheduler import (ConstantParamScheduler,
                                      CosineAnnealingParamScheduler,
                                      ExponentialParamScheduler,
                                      LinearParamScheduler, PolyParamScheduler)
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.runner import EpochBasedTrainLoop

from wsstool.registry import HOOKS

SCHEDULER_MAX_ITERS = ('actual', 'first_batch_size')

# Schedulers whose only epoch-valued arguments are ``begin`` and ``end``, with
# the attribute their constructor derives from them (if any) and its offset:
# ``attribute = end - begin + offset``.
_RANGE_SCHEDULERS = (
    (PolyParamScheduler, 'total_iters', -1),
    (LinearParamScheduler, 'total_iters', -1),
    (ConstantParamScheduler, 'total_iters', -1),
    (CosineAnnealingParamScheduler, 'T_max', 0),
    (ExponentialParamScheduler, None, 0),
)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_list(cfg: Union[dict, list]) -> list:
    return [cfg] if isinstance(cfg, dict) else list(cfg)


@HOOKS.register_module()
class BatchSizeScheduleHook(Hook):
    """Switch the per-process train batch size at given epochs and keep the
    iteration-based lr schedule consistent with the real step count.

    Before each training epoch (and before training, so that a run resumed
    into a later epoch starts with the right batch) the train dataloader is
    rebuilt from ``train_dataloader`` in the config with the scheduled batch
    size, through ``runner.build_dataloader``: dataset, sampler (type, seed,
    shuffle), workers and collate function are those of the config, and
    ``runner.train_dataloader`` follows the loop's loader, so logging and
    ``DistSamplerSeedHook`` see the new one.

    Changing the batch changes the number of iterations, but mmengine
    converts epoch-based schedulers (``convert_to_iter_based=True``) with the
    loader length at the first batch size. ``scheduler_max_iters`` decides
    what happens to them:

    * ``'actual'`` (default): their ``begin``/``end`` epochs are mapped to the
      real iteration at which those epochs start (the sum of the per-epoch
      loader lengths), so e.g. a poly lr reaches its end value at the last
      real step. Supported: Poly, Linear, Constant, Exponential and
      CosineAnnealing (without ``T_max``) schedulers.
    * ``'first_batch_size'``: they keep ``end = epochs x len(loader at the
      first batch size)``, the ``max_step`` of the AEFT/KTSE reference code,
      so the lr stops part-way down.

    Example (KTSE, 10,582 images, ``drop_last``, ``schedule={10: 16}`` after
    a batch of 8, 40 epochs, poly power 0.9): ``10 x 1322 + 30 x 661 =
    33,050`` real steps. ``'actual'`` decays the lr to 0 over those steps;
    ``'first_batch_size'`` uses ``40 x 1322 = 52,880`` steps, leaving
    ``(1 - 33,049 / 52,879) ** 0.9 = 0.41`` of the start lr at the end (AEFT,
    batch 8 -> 32 at epoch 18: 0.45). In both modes the loop's ``max_iters``
    is the real step count (ETA, last-iteration checks, gradient
    accumulation). Schedulers given in iterations (``by_epoch=False``) and
    per-epoch ones are left alone.

    The rescale is computed from the config before the first step and is
    idempotent, so a resumed run (whose scheduler state is restored from the
    checkpoint) continues the same lr curve.

    Args:
        schedule (dict[int, int]): Maps a 0-based start epoch to the
            per-process batch size from that epoch on, e.g. ``{10: 16}``.
            Epochs before the first key use ``train_dataloader.batch_size``.
        scheduler_max_iters (str): ``'actual'`` or ``'first_batch_size'``
            (see above). Defaults to ``'actual'``.
    """

    # Before every other hook: the loader must be switched before
    # DistSamplerSeedHook sets its epoch, and ``max_iters`` before
    # RuntimeInfoHook publishes it.
    priority = 'HIGHEST'

    def __init__(self,
                 schedule: dict[int, int],
                 scheduler_max_iters: str = 'actual') -> None:
        if not isinstance(schedule, dict) or not schedule:
            raise TypeError('BatchSizeScheduleHook schedule must be a '
                            'non-empty dict {start epoch: batch size}, got '
                            f'{schedule!r}.')
        for epoch, batch_size in schedule.items():
            if not (_is_int(epoch) and epoch >= 0):
                raise ValueError(f'BatchSizeScheduleHook schedule key '
                                 f'{epoch!r} must be an epoch index >= 0.')
            if not (_is_int(batch_size) and batch_size >= 1):
                raise ValueError(f'BatchSizeScheduleHook schedule[{epoch}] = '
                                 f'{batch_size!r} must be a batch size >= 1.')
        if scheduler_max_iters not in SCHEDULER_MAX_ITERS:
            raise ValueError(f'BatchSizeScheduleHook scheduler_max_iters='
                             f'{scheduler_max_iters!r}; expected one of '
                             f'{SCHEDULER_MAX_ITERS}.')
        self.schedule = dict(sorted(schedule.items()))
        self.scheduler_max_iters = scheduler_max_iters
        self._loader_cfg: dict = {}
        self._num_samples = 0
        self._drop_last = False

    def before_train(self, runner) -> None:
        """Rescale the converted schedulers, set the real ``max_iters`` and
        use the batch size of the (possibly resumed) current epoch."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError('BatchSizeScheduleHook needs an '
                            'EpochBasedTrainLoop, got '
                            f'{type(runner.train_loop).__name__}.')
        self._loader_cfg = self._checked_loader_cfg(runner)
        loader = runner.train_loop.dataloader
        self._num_samples = len(loader.sampler)
        self._drop_last = loader.drop_last

        max_epochs = runner.max_epochs
        if self.scheduler_max_iters == 'actual':
            for cfg, scheduler in self._converted_schedulers(runner):
                self._rescale(cfg, scheduler, max_epochs)
        max_iters = self._iters_before(max_epochs)
        runner.train_loop._max_iters = max_iters
        runner.optim_wrapper.initialize_count_status(runner.model, runner.iter,
                                                     max_iters)
        runner.logger.info(
            f'Train batch size per process: {self._describe(max_epochs)}; '
            f'{max_iters} iterations in {max_epochs} epochs; epoch-converted '
            f'param schedulers follow the {self.scheduler_max_iters!r} step '
            'count.')
        self._switch_loader(runner)

    def before_train_epoch(self, runner) -> None:
        self._switch_loader(runner)

    def _batch_size_at(self, epoch: int) -> int:
        """Per-process batch size of a 0-based epoch."""
        batch_size = self._loader_cfg['batch_size']
        for start, scheduled in self.schedule.items():
            if start <= epoch:
                batch_size = scheduled
        return batch_size

    def _iters_before(self, epoch: float) -> int:
        """Real number of iterations before (possibly fractional) ``epoch``,
        the analogue of mmengine's ``int(epoch * epoch_length)``."""
        whole = math.floor(epoch)
        return (sum(self._epoch_length(e) for e in range(whole)) + int(
            (epoch - whole) * self._epoch_length(whole)))

    def _epoch_length(self, epoch: int) -> int:
        """Iterations of a 0-based epoch on this process (the length of its
        ``DataLoader``)."""
        batch_size = self._batch_size_at(epoch)
        if self._drop_last:
            return self._num_samples // batch_size
        return math.ceil(self._num_samples / batch_size)

    def _describe(self, max_epochs: int) -> str:
        """E.g. ``'8 in epochs [0, 10), 16 in epochs [10, 40)'``."""
        starts = [0, *[e for e in self.schedule if 0 < e < max_epochs]]
        ends = [*starts[1:], max_epochs]
        return ', '.join(f'{self._batch_size_at(s)} in epochs [{s}, {e})'
                         for s, e in zip(starts, ends))

    @staticmethod
    def _checked_loader_cfg(runner) -> dict:
        """The ``train_dataloader`` config, checked for a plain batch size."""
        cfg = runner.cfg.get('train_dataloader')
        if not isinstance(cfg, dict):
            raise TypeError('BatchSizeScheduleHook rebuilds the train loader '
                            'from runner.cfg.train_dataloader, which must be '
                            f'a dict (build the runner with Runner.from_cfg); '
                            f'got {type(cfg).__name__}.')
        if not (_is_int(cfg.get('batch_size')) and cfg['batch_size'] >= 1):
            raise ValueError('BatchSizeScheduleHook needs an integer '
                             'train_dataloader.batch_size >= 1, got '
                             f'{cfg.get("batch_size")!r}.')
        for key in ('batch_sampler', 'num_batch_per_epoch'):
            if cfg.get(key) is not None:
                raise ValueError(f'BatchSizeScheduleHook cannot schedule the '
                                 f'batch size when train_dataloader.{key} '
                                 'is set; remove it.')
        return copy.deepcopy(dict(cfg))

    def _switch_loader(self, runner) -> None:
        """Rebuild the train loader when the epoch's batch size differs."""
        batch_size = self._batch_size_at(runner.epoch)
        previous = runner.train_loop.dataloader.batch_size
        if batch_size == previous:
            return
        cfg = copy.deepcopy(self._loader_cfg)
        cfg['batch_size'] = batch_size
        # seeded exactly as mmengine's BaseLoop builds the first loader
        runner.train_loop.dataloader = runner.build_dataloader(
            cfg,
            seed=runner.seed,
            diff_rank_seed=runner._randomness_cfg.get('diff_rank_seed', False))
        runner.logger.info(
            f'Epoch {runner.epoch}: train batch size {previous} -> '
            f'{batch_size} per process '
            f'({len(runner.train_loop.dataloader)} iterations per epoch).')

    @staticmethod
    def _converted_schedulers(
            runner) -> Iterator[tuple[dict, _ParamScheduler]]:
        """Pairs (config, scheduler) of the schedulers that the runner
        converted from epochs to iterations."""
        built = runner.param_schedulers
        if built is None:
            return
        cfgs = runner.cfg.get('param_scheduler')
        if cfgs is None:
            raise TypeError('BatchSizeScheduleHook(scheduler_max_iters='
                            "'actual') reads runner.cfg.param_scheduler, "
                            'which is missing (build the runner with '
                            'Runner.from_cfg).')
        if isinstance(built, dict):  # one scheduler list per optimizer
            per_optimizer = isinstance(cfgs, dict) and 'type' not in cfgs
            pairs = [
                pair for name, schedulers in built.items() for pair in zip(
                    _as_list(cfgs[name] if per_optimizer else cfgs),
                    schedulers,
                    strict=True)
            ]
        else:
            pairs = zip(_as_list(cfgs), built, strict=True)
        for cfg, scheduler in pairs:
            if isinstance(cfg, dict) and cfg.get('convert_to_iter_based'):
                yield cfg, scheduler

    def _rescale(self, cfg: dict, scheduler: _ParamScheduler,
                 max_epochs: int) -> None:
        """Map a converted scheduler's epoch range onto real iterations."""
        for scheduler_cls, attribute, offset in _RANGE_SCHEDULERS:
            if isinstance(scheduler, scheduler_cls):
                break
        else:
            raise TypeError(
                f'BatchSizeScheduleHook cannot rescale '
                f'{type(scheduler).__name__} (convert_to_iter_based=True) to '
                'a changing batch size; supported: '
                f'{[c.__name__ for c, _, _ in _RANGE_SCHEDULERS]}. Give it '
                'in iterations (by_epoch=False) or set '
                "scheduler_max_iters='first_batch_size'.")
        if cfg.get('T_max') is not None:
            raise TypeError('BatchSizeScheduleHook cannot rescale a '
                            'converted CosineAnnealing scheduler with an '
                            'explicit T_max; set its end instead.')
        end_epoch = cfg.get('end', max_epochs)
        scheduler.begin = self._iters_before(cfg.get('begin', 0))
        scheduler.end = INF if end_epoch == INF else self._iters_before(
            end_epoch)
        if attribute is not None:
            setattr(scheduler, attribute,
                    scheduler.end - scheduler.begin + offset)
