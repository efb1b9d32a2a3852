"""SEAM, and SEAM + PPC, end to end on a tiny SynthVOC."""
import os.path as osp

import torch

from wsstool.models.heads.pixel_correlation import PixelCorrelationModule
from wsstool.models.losses.pixel_prototype_contrast import \
    PixelPrototypeContrast
from wsstool.models.losses.seam_losses import EquivariantCrossRegLoss
from wsstool.models.methods.seam import SEAM

from .conftest import REPO, tiny_overrides
from .test_erasing_methods import _train

SEAM_CONFIG = osp.join(REPO, 'configs', 'seam',
                       'seam_r18_1xb16-12e_synthvoc-128x128.py')
PPC_SEAM_CONFIG = osp.join(REPO, 'configs', 'ppc',
                           'ppc_seam_r18_1xb16-12e_synthvoc-128x128.py')
SEAM_LOSSES = ('loss_cls', 'loss_amp', 'loss_er', 'loss_ecr')


def _losses(runner) -> dict:
    scalars = runner.message_hub.log_scalars
    return {
        key[len('train/'):]: scalars[key].current()
        for key in scalars if key.startswith('train/loss')
    }


def test_seam_trains_and_evaluates_its_pcm_maps(tiny_synthvoc, tmp_path):
    runner = _train(SEAM_CONFIG, str(tmp_path), tiny_overrides(tiny_synthvoc))
    model = runner.model
    assert isinstance(model, SEAM)
    assert isinstance(model.pcm, PixelCorrelationModule)
    assert isinstance(model.loss_ecr, EquivariantCrossRegLoss)
    assert model.infer_maps == 'pcm' and runner.iter == 4
    losses = _losses(runner)
    for name in SEAM_LOSSES:
        assert torch.isfinite(torch.tensor(losses[name])), name
    assert losses['loss_ecr'] > 0
    assert 0.0 <= runner.message_hub.get_scalar('val/cam/mIoU').current()


def test_seam_with_ppc_trains_the_projection(tiny_synthvoc, tmp_path):
    runner = _train(PPC_SEAM_CONFIG, str(tmp_path),
                    tiny_overrides(tiny_synthvoc))
    assert isinstance(runner.model.aux_losses[0], PixelPrototypeContrast)
    losses = _losses(runner)
    for name in (*SEAM_LOSSES, 'loss_cross', 'loss_cross2', 'loss_intra'):
        assert torch.isfinite(torch.tensor(losses[name])), name
    # the projection is saved under the key SEAM maps PPC's fc_proj to
    state = torch.load(osp.join(str(tmp_path), 'epoch_1.pth'),
                       map_location='cpu', weights_only=False)['state_dict']
    torch.testing.assert_close(
        state['aux_losses.0.fc_proj.weight'],
        runner.model.aux_losses[0].fc_proj.weight.detach())
