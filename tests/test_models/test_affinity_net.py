import math
from collections import OrderedDict

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement, PixelData

from wsstool.models.heads.affinity_head import AffinityHead
from wsstool.models.losses.affinity_loss import AffinityLoss
from wsstool.models.refine_nets.affinity_net import AffinityNet
from wsstool.models.refiners.dense_crf import DenseCRF
from wsstool.models.refiners.random_walk import RandomWalk
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

STRIDE = 8


def _model(train_cfg=None, **test_cfg):
    """ResNet-18 layer2 (stride 8), layer3 and layer4 (stride 16, resized
    to stride 8 by the head)."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='AffinityNet',
            backbone=dict(
                type='ResNet',
                depth=18,
                strides=(1, 2, 2, 1),
                out_indices=(1, 2, 3)),
            head=dict(type='AffinityHead', in_channels=(128, 256, 512)),
            train_cfg=train_cfg,
            test_cfg=test_cfg))
    return model.eval()


def _image(height, width, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, height, width, generator=gen)


def _cams(num, height, width, seed=1):
    gen = torch.Generator().manual_seed(seed)
    cams = torch.rand(num, height, width, generator=gen)
    return cams / cams.amax(dim=(1, 2), keepdim=True)


def _manual_walk(model, image, cams, num_steps, beta=8.0, bg_power=19.0,
                 border_pairs='full'):
    """The walk written out: explicit neighbour loops over the stride-8
    grid, a dense float64 transition matrix and its num_steps-th power."""
    height, width = image.shape[-2:]
    pad_h, pad_w = math.ceil(height / 8) * 8, math.ceil(width / 8) * 8
    padded = torch.zeros(1, 3, pad_h, pad_w)
    padded[..., :height, :width] = image
    with torch.no_grad():
        feats = model.extract_feat(padded)[0].double().numpy()
    _, h, w = feats.shape
    radius, margin = 5, 4
    offsets = [(dy, dx) for dy in range(0, margin + 1)
               for dx in range(-margin, margin + 1)
               if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius**2]
    assert len(offsets) == 34
    aff = np.eye(h * w)
    for y in range(h):
        for x in range(w):
            if border_pairs == 'source_crop' and not (
                    y < h - margin and margin <= x < w - margin):
                continue
            for dy, dx in offsets:
                ty, tx = y + dy, x + dx
                if 0 <= ty < h and 0 <= tx < w:
                    value = np.exp(-np.abs(feats[:, y, x] -
                                           feats[:, ty, tx]).mean())
                    aff[y * w + x, ty * w + tx] = value
                    aff[ty * w + tx, y * w + x] = value
    trans = aff**beta
    trans /= trans.sum(axis=0, keepdims=True)
    trans = np.linalg.matrix_power(trans, num_steps)

    cams = cams.double().numpy()
    fg_max = cams.max(axis=0) if len(cams) else np.zeros((height, width))
    scores = np.zeros((len(cams) + 1, pad_h, pad_w))
    scores[0, :height, :width] = (1 - fg_max)**bg_power
    scores[1:, :height, :width] = cams
    pooled = scores.reshape(len(scores), h, 8, w, 8).mean(axis=(2, 4))
    walked = (pooled.reshape(len(scores), -1) @ trans).reshape(-1, h, w)
    up = F.interpolate(
        torch.from_numpy(walked)[None], size=(pad_h, pad_w),
        mode='bilinear', align_corners=False)[0]
    return up[:, :height, :width].float()


def test_builds_registered_components():
    model = _model()
    assert MODELS.get('AffinityNet') is AffinityNet
    assert isinstance(model.head, AffinityHead)
    assert isinstance(model.loss_affinity, AffinityLoss)
    assert isinstance(model.random_walk, RandomWalk)
    assert model.test_path_index.radius == model.train_path_index.radius == 5


def test_feature_stride_is_probed_without_side_effects():
    model = _model()
    model.train()
    stats = model.backbone.layer2[0].bn1.running_mean.clone()
    assert model.feature_stride == STRIDE
    assert model.training and model.backbone.layer2.training
    torch.testing.assert_close(model.backbone.layer2[0].bn1.running_mean,
                               stats)


@pytest.mark.parametrize('border_pairs', ['full', 'source_crop'])
def test_propagate_cams_equals_the_written_out_walk(border_pairs):
    # 45 x 75 is padded to 48 x 80: a 6 x 10 grid; the source crop of
    # radius 5 (margin 4) is rows [0, 2), columns [4, 6).
    model = _model(
        border_pairs=border_pairs,
        random_walk=dict(num_steps=4, mode='dense'))
    image, cams = _image(45, 75), _cams(2, 45, 75)
    with torch.no_grad():
        scores = model.propagate_cams(image, cams)
    assert scores.shape == (3, 45, 75) and scores.dtype == torch.float32
    expected = _manual_walk(model, image, cams, 4, border_pairs=border_pairs)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-6)


def test_sparse_walk_default_beta_is_psa_s():
    model = _model(random_walk=dict(num_steps=3))
    assert (model.random_walk.beta, model.random_walk.num_steps,
            model.random_walk.mode) == (8, 3, 'sparse')
    image, cams = _image(40, 50), _cams(1, 40, 50)
    with torch.no_grad():
        scores = model.propagate_cams(image, cams)
    torch.testing.assert_close(
        scores, _manual_walk(model, image, cams, 3), rtol=1e-4, atol=1e-6)


def test_background_power_and_constant():
    cams = torch.tensor([[[0.5, 1.0]], [[0.2, 0.0]]])
    power = _model(bg_power=2.0)
    torch.testing.assert_close(
        power.background_score(cams), torch.tensor([[0.25, 0.0]]))
    torch.testing.assert_close(
        power.background_score(cams[:0]), torch.ones(1, 2))
    constant = _model(bg='constant', bg_score=0.27)
    torch.testing.assert_close(
        constant.background_score(cams), torch.full((1, 2), 0.27))

    # A constant channel stays constant: every column of T sums to 1
    # (32 x 40 needs no padding).
    image, cams = _image(32, 40), _cams(2, 32, 40)
    with torch.no_grad():
        scores = constant.propagate_cams(image, cams)
        power_scores = power.propagate_cams(image, cams)
    torch.testing.assert_close(scores[0], torch.full((32, 40), 0.27))
    torch.testing.assert_close(scores[1:], power_scores[1:])
    assert not torch.allclose(power_scores[0], scores[0])


def test_no_class_gives_the_background_channel_only():
    model = _model()
    with torch.no_grad():
        scores = model.propagate_cams(_image(24, 24), torch.zeros(0, 24, 24))
    torch.testing.assert_close(scores, torch.ones(1, 24, 24))


def test_source_crop_pairs_differ_only_near_the_border():
    # 64 x 96 image: 8 x 12 grid; radius 3, margin 2. The source crop keeps
    # the pairs of sources in rows [0, 6), columns [2, 10). After one step a
    # cell's score changes only if it lost an edge, i.e. if it lies within
    # the margin of a dropped source: rows >= 6 or columns < 4 or >= 8.
    # Bilinear upsampling mixes neighbouring cells, so the compared pixels
    # keep one cell away from those.
    image, cams = _image(64, 96), _cams(2, 64, 96)
    cfg = dict(radius=3, random_walk=dict(num_steps=1))
    full = _model(**cfg)
    crop = _model(border_pairs='source_crop', **cfg)
    for model in (full, crop):  # small weights: affinities near 1
        model.head.f9.weight.data.mul_(0.1)
    with torch.no_grad():
        emb = full.extract_feat(image)
        aff_full = full.walk_affinities(emb)[0]
        aff_crop = crop.walk_affinities(emb)[0]
        full_scores = full.propagate_cams(image, cams)
        crop_scores = crop.propagate_cams(image, cams)
    sources = torch.zeros(8, 12, dtype=torch.bool)
    sources[:6, 2:10] = True
    torch.testing.assert_close(aff_crop[:, sources], aff_full[:, sources])
    assert (aff_crop[:, ~sources] == 0).all()
    assert (aff_full[:, ~sources] > 0).any()

    interior = (slice(None), slice(0, 5 * STRIDE),
                slice(5 * STRIDE, 7 * STRIDE))
    torch.testing.assert_close(crop_scores[interior], full_scores[interior])
    border = (crop_scores - full_scores).abs()
    border[interior] = 0
    assert border.max() > 0.01


def _relation_label(height, width):
    """Left half class 2 (label 3), right half background, bottom rows
    unsure."""
    label = torch.zeros(1, height, width, dtype=torch.int64)
    label[:, :, :width // 2] = 3
    label[:, -8:, :] = 255
    return label


def _manual_loss(embedding, label, radius):
    """AffinityNet loss with explicit loops over sources and directions."""
    margin = math.ceil(radius) - 1
    offsets = [(dy, dx) for dy in range(0, margin + 1)
               for dx in range(-margin, margin + 1)
               if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius**2]
    sums, counts = [0.0, 0.0, 0.0], [0, 0, 0]
    for b in range(len(label)):
        _, h, w = embedding[b].shape
        for y in range(h - margin):
            for x in range(margin, w - margin):
                for dy, dx in offsets:
                    a, c = label[b, y, x].item(), label[b, y + dy,
                                                         x + dx].item()
                    if a == 255 or c == 255:
                        continue
                    aff = torch.exp(-(embedding[b, :, y, x] -
                                      embedding[b, :, y + dy, x + dx]).abs(
                                      ).mean())
                    if a != c:
                        sums[2] += -torch.log(1 + 1e-5 - aff)
                        counts[2] += 1
                    else:
                        kind = 0 if a == 0 else 1
                        sums[kind] += -torch.log(aff + 1e-5)
                        counts[kind] += 1
    means = [s / (n + 1e-5) for s, n in zip(sums, counts)]
    return means[0] / 4, means[1] / 4, means[2] / 2


def test_loss_on_subsampled_relation_labels():
    model = _model(train_cfg=dict(radius=3))
    samples = []
    for _ in range(2):
        sample = WSSSDataSample()
        sample.gt_sem_seg = PixelData(data=_relation_label(64, 64))
        samples.append(sample)
    inputs = torch.cat([_image(64, 64, 0), _image(64, 64, 1)])
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg'}
    # Cell centres (rows/cols 4, 12, ...) of the 8 x 8 grid.
    label = _relation_label(64, 64)[:, 4::8, 4::8].repeat(2, 1, 1)
    with torch.no_grad():
        expected = _manual_loss(model.extract_feat(inputs), label, 3)
    for key, value in zip(('loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg'),
                          expected):
        assert torch.isfinite(losses[key]) and losses[key] > 0
        torch.testing.assert_close(losses[key].detach(), value.float(),
                                   rtol=1e-4, atol=1e-6)

    sum(losses.values()).backward()
    for name in ('f8_3', 'f8_4', 'f8_5', 'f9'):
        grad = getattr(model.head, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0


def test_train_step_updates_the_head():
    model = _model(train_cfg=dict(radius=3))
    model.train()
    sample = WSSSDataSample(metainfo=dict(img_shape=(64, 64)))
    sample.gt_sem_seg = PixelData(data=_relation_label(64, 64))
    data = dict(
        inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)],
        data_samples=[sample])
    before = model.head.f9.weight.clone()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(data, optim_wrapper)
    assert set(log_vars) == {
        'loss', 'loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg'
    }
    assert not torch.equal(before, model.head.f9.weight)


def _predict_sample(cams, class_ids, **metainfo):
    sample = WSSSDataSample(metainfo=metainfo)
    sample.pred_cam = BaseDataElement(cam=cams, class_ids=class_ids)
    return sample


def test_predict_sets_scores_and_pseudo_label():
    model = _model()
    image = torch.randint(0, 256, (3, 37, 45), dtype=torch.uint8)
    cams = _cams(2, 37, 45)
    class_ids = torch.tensor([3, 7])
    with torch.no_grad():
        results = model.test_step(
            dict(inputs=[image],
                 data_samples=[_predict_sample(cams, class_ids)]))
        inputs = model.data_preprocessor(dict(inputs=[image]))['inputs']
        expected = model.propagate_cams(inputs, cams)
    assert len(results) == 1
    scores = results[0].pred_scores
    torch.testing.assert_close(scores.score, expected)
    assert scores.class_ids.tolist() == [3, 7]
    label = results[0].pred_sem_seg.data
    assert label.shape == (1, 37, 45) and label.dtype == torch.int64
    lookup = torch.tensor([0, 4, 8])
    assert torch.equal(label[0], lookup[expected.argmax(dim=0)])
    assert model(inputs, mode='tensor').shape == (1, 448, 5, 6)


def test_crf_after_the_walk(tmp_path):
    rng = np.random.default_rng(0)
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, 16:] = 200
    rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(
        np.uint8)
    path = str(tmp_path / 'image.png')
    mmcv.imwrite(rgb[..., ::-1], path)
    crf_cfg = dict(type='DenseCRF', preset='psa_prob', num_iter=1)
    model = _model(crf=crf_cfg)

    # The CRF sees the scores divided by their per-pixel sum.
    score = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    crf = DenseCRF('psa_prob', num_iter=1)
    refined = model.refine_with_crf(score, rgb)
    expected = crf(rgb, (score / score.sum(0, keepdim=True)).numpy())
    torch.testing.assert_close(refined, torch.from_numpy(expected))
    # Without clipped entries this equals the CRF of the raw scores.
    raw = crf(rgb, (0.1 + 0.9 * score).numpy())
    torch.testing.assert_close(
        model.refine_with_crf(0.1 + 0.9 * score, rgb), torch.from_numpy(raw),
        rtol=1e-4, atol=1e-5)

    image = torch.from_numpy(rgb[..., ::-1].transpose(2, 0, 1).copy())
    cams, class_ids = _cams(1, 24, 32), torch.tensor([5])
    with torch.no_grad():
        result = model.test_step(
            dict(inputs=[image],
                 data_samples=[_predict_sample(cams, class_ids,
                                               img_path=path)]))[0]
        inputs = model.data_preprocessor(dict(inputs=[image]))['inputs']
        walked = model.propagate_cams(inputs, cams)
    torch.testing.assert_close(result.pred_scores.score,
                               model.refine_with_crf(walked, rgb))
    torch.testing.assert_close(result.pred_scores.score.sum(0),
                               torch.ones(24, 32))
    with pytest.raises(ValueError, match='img_path'):
        model.predict(inputs, [_predict_sample(cams, class_ids)])
    with pytest.raises(ValueError, match='image is'):
        model.refine_with_crf(walked, rgb[:20])


def test_reference_checkpoint_keys_load():
    source = _model()
    for param in source.parameters():
        param.data.uniform_(-1, 1)
    state = source.state_dict()
    reference = OrderedDict(
        (key.split('.', 1)[1], value) for key, value in state.items())
    assert 'f9.weight' in reference and 'layer1.0.conv1.weight' in reference
    target = _model()
    for checkpoint in (reference, OrderedDict(
            ('module.' + k, v) for k, v in reference.items())):
        for value in target.state_dict().values():
            value.zero_()
        target.load_state_dict(checkpoint, strict=True)
        loaded = target.state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[key], state[key]) for key in state)


def test_bad_inputs_and_config():
    model = _model()
    with pytest.raises(ValueError, match='batch size 1'):
        model.predict(_image(16, 16).repeat(2, 1, 1, 1), [])
    with pytest.raises(ValueError, match='pred_cam'):
        model.predict(_image(16, 16), [WSSSDataSample()])
    with pytest.raises(ValueError, match='class_ids'):
        model.predict(_image(16, 16), [
            _predict_sample(_cams(2, 16, 16), torch.tensor([1]))
        ])
    with pytest.raises(ValueError, match='image size'):
        model.propagate_cams(_image(16, 16), _cams(1, 16, 17))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        model.propagate_cams(_image(16, 16), 2 * _cams(1, 16, 16))
    with pytest.raises(ValueError, match='gt_sem_seg'):
        model.loss(_image(16, 16), [WSSSDataSample()])
    with pytest.raises(ValueError, match='mode'):
        model(_image(16, 16), mode='features')
    for cfg, match in ((dict(bg='otsu'), 'test_cfg.bg'),
                       (dict(bg_power=-1), 'bg_power'),
                       (dict(border_pairs='crop'), 'border_pairs'),
                       (dict(beta=8), 'unknown keys'),
                       (dict(radius=1), 'radius'),
                       (dict(crf=dict(type='DenseCRF', preset='irn_label')),
                        'probability unary')):
        with pytest.raises(ValueError, match=match):
            _model(**cfg)
    with pytest.raises(ValueError, match='train_cfg'):
        _model(train_cfg=dict(radius=5, crop=448))
