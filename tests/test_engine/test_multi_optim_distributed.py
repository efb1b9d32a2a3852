"""MultiOptimDistributedDataParallel: an OptimWrapperDict trained by 2 gloo
processes matches one process on the whole batch."""
import os.path as osp

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmengine.model import BaseModel, MMDistributedDataParallel
from torch import nn

from wsstool.engine.model_wrappers.multi_optim_distributed import \
    MultiOptimDistributedDataParallel
from wsstool.engine.optimizers.multi_optim_wrapper_constructor import \
    MultiOptimWrapperConstructor

WORLD_SIZE = 2
OPTIM_CFG = dict(
    first=dict(optimizer=dict(type='SGD', lr=0.1)),
    second=dict(optimizer=dict(type='Adam', lr=0.01, betas=(0.5, 0.999))))


class TwoPartRegressor(BaseModel):
    """Two linear layers with a mean squared error: one optimiser each."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(3, 4)
        self.second = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        pred = self.second(F.relu(self.first(inputs)))
        return dict(loss_mse=F.mse_loss(pred, data_samples))


def _batch(rank: int) -> dict:
    """4 samples of rank ``rank`` (different on each rank)."""
    generator = torch.Generator().manual_seed(10 + rank)
    return dict(inputs=torch.randn(4, 3, generator=generator),
                data_samples=torch.randn(4, 1, generator=generator))


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=WORLD_SIZE)
    try:
        # mmengine's own wrapper cannot step a dict: refused at build time
        plain = MMDistributedDataParallel(
            module=TwoPartRegressor(), device_ids=None)
        try:
            MultiOptimWrapperConstructor(OPTIM_CFG)(plain)
        except ValueError as error:
            refused = 'MultiOptimDistributedDataParallel' in str(error)
        else:
            refused = False
        model = MultiOptimDistributedDataParallel(
            module=TwoPartRegressor(), device_ids=None)
        wrappers = MultiOptimWrapperConstructor(OPTIM_CFG)(model)
        log_vars = model.train_step(_batch(rank), wrappers)
        grads_cleared = all(p.grad is None or not p.grad.any()
                            for p in model.parameters())
        torch.save(
            dict(state_dict=model.module.state_dict(), log_vars=log_vars,
                 refused=refused, grads_cleared=grads_cleared),
            osp.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def _one_process_step() -> dict:
    """The same step by hand on the two ranks' batches together."""
    model = TwoPartRegressor()
    first = torch.optim.SGD(model.first.parameters(), lr=0.1)
    second = torch.optim.Adam(model.second.parameters(), lr=0.01,
                              betas=(0.5, 0.999))
    batches = [_batch(rank) for rank in range(WORLD_SIZE)]
    inputs = torch.cat([b['inputs'] for b in batches])
    targets = torch.cat([b['data_samples'] for b in batches])
    model(inputs, targets)['loss_mse'].backward()
    first.step()
    second.step()
    return model.state_dict()


def test_two_processes_step_every_wrapper_with_synchronised_gradients(
        tmp_path):
    mp.start_processes(_worker, args=(str(tmp_path / 'init'), str(tmp_path)),
                       nprocs=WORLD_SIZE, start_method='fork')
    results = [
        torch.load(tmp_path / f'rank{rank}.pth', weights_only=False)
        for rank in range(WORLD_SIZE)
    ]
    expected = _one_process_step()
    initial = TwoPartRegressor().state_dict()
    for result in results:
        assert result['refused'] and result['grads_cleared']
        assert set(result['log_vars']) == {'loss', 'loss_mse'}
        for name, value in expected.items():
            # both parts moved, to the full-batch step
            assert not torch.allclose(value, initial[name]), name
            torch.testing.assert_close(result['state_dict'][name], value)
    # each rank's own loss: the batches differ, the parameters do not
    assert results[0]['log_vars']['loss'] != results[1]['log_vars']['loss']
