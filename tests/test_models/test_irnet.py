import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement, PixelData

import wsstool.models.heads.irn_branches  # noqa: F401
import wsstool.models.losses.affinity_loss  # noqa: F401
import wsstool.models.losses.displacement_loss  # noqa: F401
from wsstool.models.refine_nets.irnet import IRNet
from wsstool.structures import WSSSDataSample

R18 = (64, 64, 128, 256, 512)
LOSS_KEYS = {'loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg', 'loss_dp_fg',
             'loss_dp_bg'}


def _irnet(**kwargs):
    torch.manual_seed(0)
    return IRNet(
        backbone=dict(type='ResNet', depth=18, frozen_stages=4,
                      norm_eval=True, out_indices=(-1, 0, 1, 2, 3)),
        boundary_branch=dict(type='BoundaryBranch', in_channels=R18),
        displacement_branch=dict(type='DisplacementBranch', in_channels=R18),
        **kwargs)


@pytest.fixture(scope='module')
def model():
    """A default-config IRNet in eval mode, shared by read-only tests."""
    return _irnet().eval()


def _relation_sample(label):
    sample = WSSSDataSample()
    sample.gt_sem_seg = PixelData(data=label[None])
    return sample


def _relation_labels():
    """Background left, class 3 (id 4) right, an unsure band between."""
    label = torch.zeros(64, 64, dtype=torch.long)
    label[:, 36:] = 4
    label[:, 28:36] = 255
    other = label.flip(-1).clone()
    other[:16] = 255
    return [label, other]


def test_loss_mode_trains_only_the_branches():
    model = _irnet(train_cfg=dict(radius=5)).train()
    assert not model.backbone.training
    assert model.boundary_branch.training
    losses = model(torch.randn(2, 3, 64, 64),
                   [_relation_sample(label) for label in _relation_labels()],
                   mode='loss')
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    for branch in (model.boundary_branch, model.displacement_branch):
        assert all(p.grad is not None and p.grad.abs().sum() > 0
                   for p in branch.parameters())


def test_loss_follows_the_relation_labels():
    model = _irnet(train_cfg=dict(radius=5))
    inputs = torch.randn(1, 3, 64, 64)
    background = torch.zeros(64, 64, dtype=torch.long)
    losses = model(inputs, [_relation_sample(background)], mode='loss')
    assert losses['loss_aff_bg'] > 0 and losses['loss_dp_bg'] > 0
    for key in ('loss_aff_fg', 'loss_aff_neg', 'loss_dp_fg'):
        assert losses[key] == 0
    unsure = torch.full((64, 64), 255, dtype=torch.long)
    losses = model(inputs, [_relation_sample(unsure)], mode='loss')
    assert all(v == 0 for v in losses.values())
    with pytest.raises(ValueError, match='gt_sem_seg'):
        model(inputs, [WSSSDataSample()], mode='loss')


def test_default_train_radius_on_a_crop(model):
    label = torch.zeros(64, 80, dtype=torch.long)
    label[:, 40:] = 1
    losses = model(torch.randn(1, 3, 64, 80), [_relation_sample(label)],
                   mode='loss')
    assert set(losses) == LOSS_KEYS
    assert model.train_path_index.directions.shape == (152, 2)


def test_tensor_mode_shapes(model):
    boundary, displacement = model(torch.randn(2, 3, 50, 37))
    assert boundary.shape == (2, 1, 13, 10)
    assert displacement.shape == (2, 2, 13, 10)


def _manual_boundary(model, image, pad_to=None):
    """sigmoid(logit / 2 + flip(logit of the flipped image) / 2), each
    image run on its own."""
    height, width = image.shape[-2:]
    h4, w4 = (height - 1) // 4 + 1, (width - 1) // 4 + 1
    logits = []
    for x in (image, image.flip(-1)):
        if pad_to:
            x = F.pad(x, (0, pad_to - width, 0, pad_to - height))
        logits.append(model.branch_outputs(x)[0][0, 0, :h4, :w4])
    return torch.sigmoid(logits[0] / 2 + logits[1].flip(-1) / 2), logits[0]


@torch.no_grad()
def test_boundary_map_flip_average(model, monkeypatch):
    image = torch.randn(1, 3, 50, 37)
    expected, single = _manual_boundary(model, image)
    boundary = model.boundary_map(image)
    assert boundary.shape == (13, 10)
    assert torch.allclose(boundary, expected, atol=1e-5)
    assert not torch.allclose(boundary, single.sigmoid(), atol=1e-3)

    monkeypatch.setitem(model.test_cfg, 'flip', False)
    assert torch.allclose(model.boundary_map(image), single.sigmoid(),
                          atol=1e-5)


@torch.no_grad()
def test_boundary_map_pad_to(model, monkeypatch):
    monkeypatch.setitem(model.test_cfg, 'pad_to', 64)
    image = torch.randn(1, 3, 50, 37)
    expected, _ = _manual_boundary(model, image, pad_to=64)
    boundary = model.boundary_map(image)
    assert boundary.shape == (13, 10)
    assert torch.allclose(boundary, expected, atol=1e-5)
    with pytest.raises(ValueError, match='pad_to=64 is smaller'):
        model.boundary_map(torch.randn(1, 3, 70, 40))
    with pytest.raises(ValueError, match='one image'):
        model.boundary_map(torch.randn(2, 3, 50, 37))


def _cams(num_classes, height=50, width=37):
    torch.manual_seed(1)
    cams = torch.rand(num_classes, height, width)
    return cams / cams.amax(dim=(1, 2), keepdim=True)


@torch.no_grad()
def test_propagate_cams_scores(model):
    image = torch.randn(1, 3, 50, 37)
    scores = model.propagate_cams(image, _cams(2) * 0.3)
    assert scores.shape == (3, 50, 37) and scores.dtype == torch.float32
    assert torch.all(scores[0] == 0.25)
    assert scores[1:].max().item() == pytest.approx(1.0)
    assert scores[1:].min() >= 0

    only_bg = model.propagate_cams(image, torch.zeros(0, 50, 37))
    assert only_bg.shape == (1, 50, 37) and torch.all(only_bg == 0.25)
    zeros = model.propagate_cams(image, torch.zeros(2, 50, 37))
    assert torch.all(zeros[1:] == 0)
    with pytest.raises(ValueError, match=r'cams \(K, 50, 37\)'):
        model.propagate_cams(image, torch.zeros(2, 40, 37))


@torch.no_grad()
def test_propagate_cams_pipeline_around_the_walk(model, monkeypatch):
    """With the walk replaced by the identity, the scores are the stride-4
    CAMs times (1 - B), upsampled x4, cropped, globally max-normalised."""
    monkeypatch.setitem(model.test_cfg, 'bg_score', 0.3)
    calls = []

    def identity_walk(scores, affinities, directions):
        calls.append((affinities.shape, directions.shape))
        return scores

    monkeypatch.setattr(model, 'random_walk', identity_walk)
    image, cams = torch.randn(1, 3, 50, 37), _cams(2)
    scores = model.propagate_cams(image, cams)

    boundary = model.boundary_map(image)
    cam4 = F.interpolate(cams[None], size=(13, 10), mode='bilinear',
                         align_corners=False)[0]
    walked = F.interpolate((cam4 * (1 - boundary))[None], scale_factor=4,
                           mode='bilinear', align_corners=False)[0]
    walked = walked[:, :50, :37]
    assert calls == [((34, 13, 10), (34, 2))]
    assert torch.allclose(scores[1:], walked / walked.max(), atol=1e-6)
    assert torch.all(scores[0] == 0.3)


def _cam_sample(cams, class_ids):
    sample = WSSSDataSample(metainfo=dict(img_path='a.jpg'))
    sample.pred_cam = BaseDataElement(cam=cams, class_ids=class_ids)
    return sample


@torch.no_grad()
def test_predict_sets_scores_and_labels(model):
    class_ids = torch.tensor([3, 7])
    sample = _cam_sample(_cams(2), class_ids)
    out, = model(torch.randn(1, 3, 50, 37), [sample], mode='predict')
    score = out.pred_scores.score
    assert score.shape == (3, 50, 37) and score.dtype == torch.float32
    assert torch.equal(out.pred_scores.class_ids, class_ids)
    label = out.pred_sem_seg.data
    assert label.shape == (1, 50, 37) and label.dtype == torch.int64
    expected = torch.tensor([0, 4, 8])[score.argmax(dim=0)]
    assert torch.equal(label[0], expected)
    assert set(label.unique().tolist()) <= {0, 4, 8}


def test_predict_needs_one_image_with_cams(model):
    samples = [_cam_sample(_cams(1), torch.tensor([0]))] * 2
    with pytest.raises(ValueError, match='one image at a time'):
        model(torch.randn(2, 3, 50, 37), samples, mode='predict')
    with pytest.raises(ValueError, match='pred_cam'):
        model(torch.randn(1, 3, 50, 37), [WSSSDataSample()], mode='predict')


def test_bad_cfgs_are_reported(model, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown keys \['beta'\]"):
        _irnet(test_cfg=dict(beta=10))
    with pytest.raises(ValueError, match='pad_to'):
        _irnet(test_cfg=dict(pad_to=512.0))
    with pytest.raises(ValueError, match='label_stride'):
        _irnet(train_cfg=dict(label_stride=0))
    monkeypatch.setitem(model.train_cfg, 'label_stride', 2)
    label = torch.zeros(64, 64, dtype=torch.long)
    with pytest.raises(ValueError, match='label_stride=2'):
        model(torch.randn(1, 3, 64, 64), [_relation_sample(label)],
              mode='loss')


def _irn_checkpoint(model):
    """The model's tensors under the names of IRN's ``res50_irn.pth``, with
    IRN's aliases and path indices."""
    irn = {}
    for key, value in model.state_dict().items():
        module, _, rest = key.partition('.')
        if module == 'backbone':
            irn['resnet50.' + rest] = value
            irn['stage1.0.' + rest] = value  # alias of the same tensor
        elif module == 'boundary_branch':
            if rest.startswith('lateral_convs.'):
                index, _, tail = rest[len('lateral_convs.'):].partition('.')
                irn[f'fc_edge{int(index) + 1}.{tail}'] = value
            else:
                irn['fc_edge6.' + rest.split('.', 1)[1]] = value
        else:
            names = {'deep_fuse': 'fc_dp6', 'fuse': 'fc_dp7'}
            part, _, tail = rest.partition('.')
            if part == 'lateral_convs':
                index, _, tail = tail.partition('.')
                irn[f'fc_dp{int(index) + 1}.{tail}'] = value
            elif part == 'conv_disp':
                irn['fc_dp7.3.weight'] = value
            elif part == 'mean_shift':
                irn['fc_dp7.4.running_mean'] = value
                irn['fc_dp7.4.running_var'] = torch.ones(2)
            else:
                irn[f'{names[part]}.{tail}'] = value
    irn['path_indices0'] = torch.zeros(3, 4, 5, dtype=torch.long)
    irn['ind_from'] = torch.zeros(1, 5, dtype=torch.long)
    irn['edge_layers.5.weight'] = irn['fc_edge6.weight']
    return irn


def test_loads_released_irn_keys():
    source = _irnet()
    with torch.no_grad():
        for tensor in source.state_dict().values():
            if tensor.is_floating_point():
                tensor.uniform_(-1, 1)
    checkpoint = _irn_checkpoint(source)
    assert 'fc_dp7.0.weight' in checkpoint and 'fc_edge3.1.bias' in checkpoint

    target = _irnet()
    target.load_state_dict(
        {'module.' + k: v for k, v in checkpoint.items()}, strict=True)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
