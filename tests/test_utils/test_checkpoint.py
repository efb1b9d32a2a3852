import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from wsstool.utils import load_from_local, setup_checkpoint_io


class _Regressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.fc(torch.stack(inputs)).pow(2).mean())


class _Points(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)))


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_Regressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Points(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(
            type='PolyLR', power=0.9, eta_min=0, end=8, by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        randomness=dict(seed=0),
        resume=resume)


def test_weights_only_load_of_mmengine_checkpoint(tmp_path):
    _runner(tmp_path, 2).train()
    checkpoint = load_from_local(str(tmp_path / 'iter_2.pth'))
    buffer = checkpoint['message_hub']['log_scalars']['train/lr']
    assert isinstance(buffer, HistoryBuffer)
    assert checkpoint['meta']['iter'] == 2


def test_resume_continues_with_same_state(tmp_path):
    """Train 4 iterations straight, or 2 + resume 2: same weights."""
    setup_checkpoint_io()
    _runner(tmp_path / 'straight', 4).train()
    _runner(tmp_path / 'split', 2).train()
    resumed = _runner(tmp_path / 'split', 4, resume=True)
    resumed.train()
    assert resumed.iter == 4
    straight = torch.load(tmp_path / 'straight' / 'iter_4.pth',
                          weights_only=False)['state_dict']
    split = torch.load(tmp_path / 'split' / 'iter_4.pth',
                       weights_only=False)['state_dict']
    for key in straight:
        torch.testing.assert_close(straight[key], split[key])


class _Evil:

    def __reduce__(self):
        return (print, ('unpickled arbitrary code', ))


def test_arbitrary_globals_are_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_from_local(str(path))


def test_getattr_only_resolves_history_buffer_methods(tmp_path):

    class _GetattrEscape:

        def __reduce__(self):
            return (getattr, (np.ndarray, 'tofile'))

    path = tmp_path / 'escape.pth'
    torch.save({'x': _GetattrEscape()}, path)
    with pytest.raises((pickle.UnpicklingError, ValueError)):
        load_from_local(str(path))
