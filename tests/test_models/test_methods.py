"""AEFT, KTSE and KTSE+ compose their losses from the right maps."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from wsstool.models.utils import normalize_cam
from wsstool.models.utils.negative_mining import mine_disjoint_negatives
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 4
SIZE = 48


def _model(method: str, **kwargs):
    init_default_scope('wsstool')
    head = dict(type='GPPCAMHead', in_channels=512, mid_channels=32,
                num_classes=NUM_CLASSES,
                with_background=method != 'AEFT')
    cfg = dict(
        type=method,
        backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1),
                      dilations=(1, 1, 1, 2), frozen_stages=-1,
                      norm_eval=False),
        head=head,
        erase_start_epoch=1,
        **kwargs)
    if method != 'AEFT':
        cfg['inter_eraser'] = dict(type='SimulatedInterImageEraser',
                                   num_pairs=2)
    torch.manual_seed(0)
    return MODELS.build(cfg).train()


def _samples(labels: torch.Tensor) -> list:
    samples = []
    for label in labels:
        sample = WSSSDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        sample.gt_label = label
        samples.append(sample)
    return samples


LABELS = torch.tensor([[1., 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1],
                       [0, 0, 1, 0]])
PARTNER_LABELS = torch.tensor([[1., 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                               [0, 0, 1, 1]])


def _batch(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(4, 3, SIZE, SIZE, generator=generator),
            torch.randn(4, 3, SIZE, SIZE, generator=generator))


def _fg_cam(cam: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Independent fg CAM: per class max over the present ones of the
    min-max normalised, rectified, upsampled CAM."""
    up = F.interpolate(cam.clamp(min=0), size=(SIZE, SIZE), mode='bilinear',
                       align_corners=False)
    norm = []
    for b in range(cam.shape[0]):
        maps = []
        for c in range(cam.shape[1]):
            x = up[b, c]
            value = (x - x.min() - 1e-5).clamp(min=0) / (
                x.max() - x.min() + 1e-5)
            maps.append(value * labels[b, c])
        norm.append(torch.stack(maps))
    return torch.stack(norm).amax(dim=1, keepdim=True)


def _gap_l1(a, b, labels):
    return (F.adaptive_avg_pool2d(a.relu(), 1).flatten(1) * labels -
            F.adaptive_avg_pool2d(b.relu(), 1).flatten(1) * labels).abs().mean()


def test_aeft_classification_only_before_t_and_first_n():
    model = _model('AEFT', cls_loss_first_n=2)
    images, _ = _batch()
    losses = model.loss(images, _samples(LABELS))
    assert list(losses) == ['loss_cls']
    logits = model.head_output(images).logits
    expected = F.binary_cross_entropy_with_logits(logits[:2], LABELS[:2])
    torch.testing.assert_close(losses['loss_cls'], expected)


def test_aeft_losses_match_an_independent_composition():
    model = _model('AEFT')
    model.set_epoch(1)
    images, _ = _batch()
    torch.manual_seed(7)  # negative mining draws from the global RNG
    losses = model.loss(images, _samples(LABELS))
    assert set(losses) == {'loss_cls', 'loss_attraction', 'loss_repulsion'}

    out = model.head_output(images)
    fg = _fg_cam(out.cam, LABELS)
    erased = images * ((fg < 0.6).float() * fg)
    out_erased = model.head_output(erased)
    torch.testing.assert_close(
        losses['loss_attraction'],
        0.2 * _gap_l1(out.pooled_map, out_erased.pooled_map, LABELS))
    # the repulsion term is the loss module's on (gpp, cam) of the anchors
    torch.manual_seed(7)
    negatives = mine_disjoint_negatives(LABELS)
    torch.testing.assert_close(
        losses['loss_repulsion'],
        model.loss_repulsion(out.pooled_map, out.cam, LABELS, negatives))
    sum(losses.values()).backward()
    assert model.head.fc8.weight.grad.abs().sum() > 0


class _RecordingAux(torch.nn.Module):
    """An auxiliary loss that records the views it is given."""

    def forward(self, model, inputs, labels, views):
        self.views = views
        return dict(loss_aux=views[0].cam.sum() * 0)


@pytest.mark.parametrize('method', ['AEFT', 'KTSE'])
def test_auxiliary_losses_get_the_anchor_view(method):
    """View 1 is the backbone feature the head reads and the head's raw
    maps of the anchors, from the loss's own pass; view 2 is left to the
    auxiliary loss."""
    model = _model(method)
    aux = _RecordingAux()
    model.aux_losses.append(aux)
    images, partners = _batch()
    losses = model.loss(images, _samples(LABELS), partner_inputs=partners,
                        partner_data_samples=_samples(PARTNER_LABELS))
    assert set(losses) == {'loss_cls', 'loss_aux'}
    view1, view2 = aux.views
    assert view2 is None
    torch.testing.assert_close(view1.feats, model.backbone(images)[-1])
    torch.testing.assert_close(view1.cam, model.head_output(images).cam)


def test_ktse_needs_a_paired_dataset():
    model = _model('KTSE')
    model.set_epoch(1)
    images, _ = _batch()
    with pytest.raises(ValueError, match='ClassPairedDataset'):
        model.loss(images, _samples(LABELS))
    # also before T, so that a wrong config fails at the first step
    model.set_epoch(0)
    with pytest.raises(ValueError, match='ClassPairedDataset'):
        model.loss(images, _samples(LABELS))


def test_ktse_rejects_a_head_without_background():
    init_default_scope('wsstool')
    with pytest.raises(ValueError, match='background'):
        MODELS.build(
            dict(type='KTSE',
                 backbone=dict(type='ResNet', depth=18),
                 head=dict(type='GPPCAMHead', in_channels=512,
                           num_classes=NUM_CLASSES)))


def test_ktse_losses_match_an_independent_composition():
    model = _model('KTSE')
    model.set_epoch(1)
    images, partners = _batch()
    losses = model.loss(images, _samples(LABELS), partner_inputs=partners,
                        partner_data_samples=_samples(PARTNER_LABELS))
    assert set(losses) == {
        'loss_cls', 'loss_local', 'loss_global', 'loss_kt', 'loss_seg_bg',
        'loss_seg_fg', 'loss_seg_inter', 'loss_seg_two_bg', 'loss_seg_two_fg'
    }
    out = model.head_output(images)
    out_partner = model.head_output(partners[:2])  # only the composed pairs
    erased = images * (_fg_cam(out.cam, LABELS) < 0.6).float()
    out_erased = model.head_output(erased)
    torch.testing.assert_close(
        losses['loss_global'], _gap_l1(out.cam, out_erased.cam, LABELS))
    # MGA local on the feature grid, inside the non-discriminative region
    region = ((normalize_cam(out.cam, 'minmax_train') *
               LABELS[..., None, None]).amax(1, keepdim=True) < 0.6).float()
    local = ((out_erased.cam * region - out.cam * region - 0.05).relu() *
             LABELS[..., None, None]).mean()
    torch.testing.assert_close(losses['loss_local'], local)
    # knowledge transfer: the first 2 anchors stacked over their partners
    composed = torch.cat([images[:2], partners[:2]], dim=2)
    composed_labels = ((LABELS[:2] + PARTNER_LABELS[:2]) > 0).float()
    reference = torch.cat([out.cam[:2], out_partner.cam], dim=2)
    cam_composed = model.head_output(composed).cam
    kt = ((reference - cam_composed - 0.05).relu() *
          composed_labels[..., None, None]).mean()
    torch.testing.assert_close(losses['loss_kt'], kt)

    sum(losses.values()).backward()
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_ktse_plus_uses_the_base_eraser_until_the_paste_starts():
    model = _model(
        'KTSEPlus',
        eraser=dict(type='CopyPasteEraser', min_bank_classes=1,
                    min_bank_items=1))
    model.set_epoch(1)
    assert type(model.active_eraser()).__name__ == 'HardThresholdEraser'
    model.set_epoch(2)
    assert type(model.active_eraser()).__name__ == 'CopyPasteEraser'
    images, partners = _batch()
    losses = model.loss(images, _samples(LABELS), partner_inputs=partners,
                        partner_data_samples=_samples(PARTNER_LABELS))
    assert 'loss_kt' in losses
    # the copy-paste statistics are logged, not summed into the loss
    assert losses['bank_items'] == model.eraser.num_bank_items
    assert losses['pasted_images'] == len(model.eraser.last_paste)
    loss, log_vars = model.parse_losses(losses)
    assert 'bank_items' in log_vars
    torch.testing.assert_close(
        loss, sum(v for k, v in losses.items() if k.startswith('loss')))


def test_ktse_plus_local_alignment_at_image_resolution():
    model = _model('KTSEPlus')
    model.set_epoch(1)
    images, partners = _batch()
    losses = model.loss(images, _samples(LABELS), partner_inputs=partners,
                        partner_data_samples=_samples(PARTNER_LABELS))
    out = model.head_output(images)
    fg = _fg_cam(out.cam, LABELS)
    out_erased = model.head_output(images * (fg < 0.6).float())

    def up(x):
        return F.interpolate(x, size=(SIZE, SIZE), mode='bilinear',
                             align_corners=False)

    region = (fg < 0.6).float()
    local = ((1.3 * up(out_erased.cam) * region - up(out.cam) * region -
              0.05).relu() * LABELS[..., None, None]).mean()
    torch.testing.assert_close(losses['loss_local'], local)


def test_swapping_the_eraser_is_one_config_value():
    model = _model('KTSE', eraser=dict(type='SoftCAMEraser', threshold=0.5))
    assert type(model.eraser).__name__ == 'SoftCAMEraser'
    assert model.eraser.threshold == 0.5
