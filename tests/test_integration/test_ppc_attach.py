"""PPC attached to the CAM baseline from a config, trained end to end on a
tiny SynthVOC."""
import os.path as osp
from argparse import Namespace

import torch
from mmengine.runner import Runner

from tests.tool_loader import load_tool

from .conftest import REPO, tiny_overrides

PPC_CAM_CONFIG = osp.join(REPO, 'configs', 'ppc',
                          'ppc_cam_r18_1xb16-12e_synthvoc-128x128.py')


def test_ppc_trains_attached_to_the_cam_baseline(tiny_synthvoc, tmp_path):
    args = Namespace(config=PPC_CAM_CONFIG, work_dir=str(tmp_path),
                     resume=None, amp=False,
                     cfg_options=tiny_overrides(tiny_synthvoc),
                     launcher='none')
    runner = Runner.from_cfg(load_tool('train').build_config(args))
    initial = runner.model.aux_losses[0].fc_proj.weight.detach().clone()
    runner.train()
    assert runner.iter == 4
    scalars = runner.message_hub.log_scalars
    for name in ('loss_cls', 'loss_cross', 'loss_cross2', 'loss_intra'):
        value = scalars[f'train/{name}'].current()
        assert torch.isfinite(torch.tensor(value)) and value > 0, name
    # fc_proj is trained with the model and saved in its checkpoint
    trained = runner.model.aux_losses[0].fc_proj.weight
    assert not torch.equal(trained.detach(), initial)
    state = torch.load(osp.join(str(tmp_path), 'epoch_1.pth'),
                       map_location='cpu', weights_only=False)['state_dict']
    torch.testing.assert_close(state['aux_losses.0.fc_proj.weight'],
                               trained.detach())
