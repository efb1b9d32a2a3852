"""TrainEpochHook with a real mmengine Runner and with a wrapped model."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from wsstool.engine import TrainEpochHook
from wsstool.registry import MODELS

from .test_batch_size_schedule_hook import (BatchScheduleToyModel,
                                            build_runner)


@MODELS.register_module()
class EpochlessToyModel(BaseModel):
    """A trainable model without ``set_epoch``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, inputs: torch.Tensor, mode: str = 'loss') -> dict:
        return dict(loss=self.linear(inputs).pow(2).mean())


def test_model_is_told_every_epoch_also_after_resume(tmp_path):
    straight, _ = build_runner(tmp_path / 'straight',
                               hooks=[dict(type='TrainEpochHook')],
                               max_epochs=3)
    straight.train()
    assert straight.model.epochs == [0, 1, 2]

    resumed, _ = build_runner(tmp_path / 'resumed',
                              hooks=[dict(type='TrainEpochHook')],
                              max_epochs=3,
                              resume_from=str(tmp_path / 'straight' /
                                              'epoch_1.pth'))
    resumed.train()
    assert resumed.model.epochs == [1, 2]


def test_wrapped_model_is_unwrapped():
    model = BatchScheduleToyModel()
    runner = SimpleNamespace(model=nn.DataParallel(model), epoch=4)
    TrainEpochHook().before_train_epoch(runner)
    assert model.epochs == [4]


def test_model_without_set_epoch_is_named(tmp_path):
    runner, _ = build_runner(tmp_path,
                             hooks=[dict(type='TrainEpochHook')],
                             max_epochs=1,
                             model_type='EpochlessToyModel')
    with pytest.raises(AttributeError, match='EpochlessToyModel has no'):
        runner.train()
