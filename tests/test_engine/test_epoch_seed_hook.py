import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config

from wsstool.engine.hooks import EpochSeedHook, epoch_seed


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def _runner(seed, epoch):
    return SimpleNamespace(
        seed=seed, epoch=epoch, cfg=Config(dict(randomness=dict(seed=seed))))


def test_epoch_seed_depends_on_seed_and_epoch_only():
    assert epoch_seed(3, 5) == epoch_seed(3, 5)
    seeds = {epoch_seed(s, e) for s in range(3) for e in range(3)}
    assert len(seeds) == 9  # seed 0 epoch 1 is not seed 1 epoch 0
    assert all(0 <= s < 2**32 for s in seeds)


def test_hook_makes_an_epoch_independent_of_what_came_before():
    hook = EpochSeedHook()
    hook.before_train_epoch(_runner(7, 2))
    straight = _draws()
    _draws()  # a different history: a resumed run starts afresh
    random.seed(123)
    hook.before_train_epoch(_runner(7, 2))
    assert _draws() == straight
    hook.before_train_epoch(_runner(7, 3))
    assert _draws() != straight

