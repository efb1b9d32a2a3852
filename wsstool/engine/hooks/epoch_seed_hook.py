"""Seed the random generators from (seed, epoch) before every epoch, so that
a run resumed from a checkpoint repeats the uninterrupted run exactly."""
import numpy as np
from mmengine.hooks import Hook
from mmengine.runner.utils import set_random_seed

from wsstool.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed ``random``, NumPy and torch with :func:`epoch_seed` of the
    runner's seed before every training epoch.

    mmengine seeds the generators once, at start-up; a run resumed at epoch
    ``e`` then draws other augmentations than the uninterrupted run did
    from epoch ``e`` on. With this hook every epoch's randomness depends on
    the seed and the epoch only, so a resumed run gives the same model.
    Data-loader worker processes are seeded by mmengine when they start:
    the guarantee holds with ``num_workers=0`` or non-persistent workers.
    """
    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        randomness = runner.cfg.get('randomness') or {}
        set_random_seed(
            epoch_seed(runner.seed, runner.epoch),
            diff_rank_seed=randomness.get('diff_rank_seed', False))
