import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample

NUM_CLASSES = 5


def _model(**test_cfg):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='CAMClassifier',
        backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1)),
        head=dict(type='CAMHead', in_channels=512, num_classes=NUM_CLASSES),
        test_cfg=test_cfg))
    model.init_weights()
    return model


def _batch(label_a=(1, 0, 1, 0, 0), label_b=(0, 0, 0, 1, 0)):
    """Two BGR images of different sizes; the first was resized by the
    pipeline from a 20x26 original."""
    gen = torch.Generator().manual_seed(1)
    images = [
        torch.randint(0, 256, (3, 40, 52), generator=gen, dtype=torch.uint8),
        torch.randint(0, 256, (3, 36, 44), generator=gen, dtype=torch.uint8),
    ]
    metas = [dict(img_shape=(40, 52), ori_shape=(20, 26)),
             dict(img_shape=(36, 44), ori_shape=(36, 44))]
    samples = []
    for meta, label in zip(metas, (label_a, label_b)):
        sample = WSSSDataSample(metainfo=meta)
        if label is not None:
            sample.gt_label = torch.tensor(label, dtype=torch.float32)
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def test_tensor_and_loss_modes():
    model = _model()
    data = model.data_preprocessor(_batch())
    inputs, samples = data['inputs'], data['data_samples']
    logits = model(inputs, mode='tensor')
    expected = model.head(model.backbone(inputs))
    assert logits.shape == (2, NUM_CLASSES)
    torch.testing.assert_close(logits, expected)

    losses = model(inputs, samples, mode='loss')
    labels = torch.stack([s.gt_label for s in samples])
    torch.testing.assert_close(
        losses['loss_cls'], F.multilabel_soft_margin_loss(logits, labels))
    with pytest.raises(ValueError, match='mode'):
        model(inputs, mode='features')


def test_train_step_updates_the_head():
    model = _model()
    model.train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.head.conv_cls.weight.clone()
    log_vars = model.train_step(_batch(), optim_wrapper)
    assert set(log_vars) == {'loss', 'loss_cls'}
    assert not torch.equal(before, model.head.conv_cls.weight)


class _RecordingAux(torch.nn.Module):
    """An auxiliary loss that records its views and returns ``terms``."""

    def __init__(self, *terms):
        super().__init__()
        self.terms = terms

    def forward(self, model, inputs, labels, views):
        self.views = views
        return {name: views[0].cam.sum() * 0 for name in self.terms}


def _with_aux(*aux, dropout_ratio=0.0):
    model = MODELS.build(dict(
        type='CAMClassifier',
        backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1)),
        head=dict(type='CAMHead', in_channels=512, num_classes=NUM_CLASSES,
                  dropout_ratio=dropout_ratio)))
    model.aux_losses.extend(aux)
    return model.train()


def test_loss_runs_the_head_once_and_passes_its_view(monkeypatch):
    """One head pass (one dropout draw) gives the logits of loss_cls and
    the view's maps; the view's features are the undropped head input."""
    torch.manual_seed(0)
    aux = _RecordingAux('loss_aux')
    model = _with_aux(aux, dropout_ratio=0.5)
    data = model.data_preprocessor(_batch(), True)
    inputs, samples = data['inputs'], data['data_samples']
    labels = torch.stack([s.gt_label for s in samples])
    calls = []
    cam_and_logits = model.head.cam_and_logits

    def counted(feats):
        calls.append(feats)
        return cam_and_logits(feats)

    monkeypatch.setattr(model.head, 'cam_and_logits', counted)
    torch.manual_seed(4)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_aux'} and len(calls) == 1
    feat = model.backbone(inputs)[-1]
    torch.manual_seed(4)
    mask = torch.nn.functional.dropout2d(torch.ones(2, 512, 1, 1), 0.5,
                                         training=True)
    weight = model.head.conv_cls.weight
    logits = F.conv2d(feat * mask, weight).mean(dim=(2, 3))
    torch.testing.assert_close(
        losses['loss_cls'], F.multilabel_soft_margin_loss(logits, labels))
    view1, view2 = aux.views
    assert view2 is None
    torch.testing.assert_close(view1.feats, feat)
    torch.testing.assert_close(view1.cam, F.conv2d(feat, weight))


def test_contrast_view_reuses_given_maps():
    model = _with_aux().eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = model.extract_feat(images)
        view = model.contrast_view(images)
    torch.testing.assert_close(view.feats, feats[-1])
    torch.testing.assert_close(
        view.cam, F.conv2d(feats[-1], model.head.conv_cls.weight))
    cam = torch.zeros(2, NUM_CLASSES, 2, 2)
    assert model.contrast_view(images, feats, cam).cam is cam


def test_add_aux_losses_rejects_a_taken_term_name():
    data = _batch()
    model = _with_aux(_RecordingAux('loss_cls'))
    data = model.data_preprocessor(data, True)
    with pytest.raises(ValueError, match=r"aux_losses\[0\] \(_RecordingAux\) "
                       r"returns the term 'loss_cls', already returned by "
                       'CAMClassifier'):
        model.loss(data['inputs'], data['data_samples'])
    model = _with_aux(_RecordingAux('loss_a'), _RecordingAux('loss_b'))
    losses = {'loss_cls': torch.tensor(1.0)}
    model.add_aux_losses(losses, data['inputs'], torch.zeros(2, NUM_CLASSES),
                         (model.contrast_view(data['inputs']), None))
    assert list(losses) == ['loss_cls', 'loss_a', 'loss_b']
    model = _with_aux(_RecordingAux('loss_a'), _RecordingAux('loss_a'))
    with pytest.raises(ValueError, match=r"'loss_a', already returned by "
                       r'aux_losses\[0\]'):
        model.loss(data['inputs'], data['data_samples'])


def _reference_cams(model, inputs, samples, scales):
    """Per image, scale and flip, one forward at a time."""
    weight = model.head.conv_cls.weight
    size = inputs.shape[-2:]
    results = []
    for index, sample in enumerate(samples):
        total = torch.zeros(NUM_CLASSES, *size)
        logit_sum = torch.zeros(NUM_CLASSES)
        for scale in scales:
            scaled_size = (round(size[0] * scale), round(size[1] * scale))
            image = F.interpolate(inputs[index:index + 1], size=scaled_size,
                                  mode='bilinear', align_corners=False)
            for flipped in (False, True):
                x = image.flip(-1) if flipped else image
                feat = model.backbone(x)[-1]
                pre = F.conv2d(feat, weight)
                logit_sum += pre.mean(dim=(2, 3))[0]
                cam = F.relu(pre).flip(-1) if flipped else F.relu(pre)
                total += F.interpolate(cam, size=size, mode='bilinear',
                                       align_corners=False)[0]
        h, w = sample.img_shape
        cam = total[:, :h, :w]
        if sample.ori_shape != (h, w):
            cam = F.interpolate(cam[None], size=sample.ori_shape,
                                mode='bilinear', align_corners=False)[0]
        keys = torch.nonzero(sample.gt_label)[:, 0]
        cam = cam[keys]
        cam = cam / (cam.amax(dim=(1, 2), keepdim=True) + 1e-5)
        results.append((cam, keys, torch.sigmoid(logit_sum / 4)))
    return results


def test_predict_multi_scale_flip_matches_per_pass_loop():
    model = _model(scales=(1.0, 0.5), flip=True).eval()
    data = model.data_preprocessor(_batch())
    with torch.no_grad():
        reference = _reference_cams(
            model, data['inputs'], data['data_samples'], (1.0, 0.5))
        outputs = model(**data, mode='predict')
    for output, (cam, keys, score) in zip(outputs, reference):
        assert output.pred_cam.cam.dtype == torch.float32
        assert output.pred_cam.cam.shape == (len(keys), *output.ori_shape)
        assert torch.equal(output.pred_cam.class_ids, keys)
        torch.testing.assert_close(output.pred_cam.cam, cam, atol=1e-5,
                                   rtol=1e-5)
        torch.testing.assert_close(output.pred_score, score, atol=1e-5,
                                   rtol=1e-5)
    assert outputs[0].pred_cam.class_ids.tolist() == [0, 2]
    assert outputs[1].pred_cam.class_ids.tolist() == [3]
    assert outputs[0].pred_cam.cam.shape == (2, 20, 26)
    assert outputs[0].pred_cam.class_ids.dtype == torch.int64
    assert torch.allclose(outputs[0].pred_cam.cam.amax(dim=(1, 2)),
                          torch.ones(2), atol=1e-4)


def test_pipeline_flip_is_undone():
    model = _model().eval()
    data = model.data_preprocessor(_batch())
    with torch.no_grad():
        plain = model(**data, mode='predict')[1].pred_cam.cam
        data = model.data_preprocessor(_batch())
        data['data_samples'][1].set_metainfo(
            dict(flip=True, flip_direction='horizontal'))
        flipped = model(**data, mode='predict')[1].pred_cam.cam
    torch.testing.assert_close(flipped, plain.flip(-1))


def test_predicted_classes_for_unlabelled_images():
    model = _model(classes='pred', score_thr=0.5).eval()
    data = model.data_preprocessor(_batch(label_a=None, label_b=None))
    with torch.no_grad():
        outputs = model(**data, mode='predict')
    for output in outputs:
        expected = torch.nonzero(output.pred_score > 0.5)[:, 0]
        assert torch.equal(output.pred_cam.class_ids, expected)
        assert output.pred_cam.cam.shape[0] == len(expected)
    assert sum(len(o.pred_cam.class_ids) for o in outputs) > 0

    model = _model(classes='gt').eval()
    data = model.data_preprocessor(_batch(label_b=None))
    with pytest.raises(ValueError, match="classes='pred'"):
        with torch.no_grad():
            model(**data, mode='predict')


def test_predict_without_samples_and_minmax_norm():
    model = _model(norm='minmax_train', classes='pred', score_thr=0.0).eval()
    inputs = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        output = model(inputs, mode='predict')[0]
    assert output.pred_cam.cam.shape == (NUM_CLASSES, 32, 32)
    flat = output.pred_cam.cam.flatten(1)
    # (x - min - 1e-5) / (max - min + 1e-5): 0 at the minimum, just below 1
    # at the maximum
    assert torch.all(flat.amin(dim=1) == 0)
    assert torch.all(flat.amax(dim=1) < 1)
    assert torch.all(flat.amax(dim=1) > 0.99)


@pytest.mark.parametrize('test_cfg,match', [
    (dict(scale=(1.0, )), 'unknown keys'),
    (dict(scales=()), 'scales'),
    (dict(norm='l2'), 'norm'),
    (dict(classes='all'), 'classes'),
    (dict(scales=1.5), 'test_cfg.scales'),
    (dict(scales=('abc', )), 'test_cfg.scales'),
    (dict(flip='yes'), 'test_cfg.flip'),
    (dict(upsample_stride=0), 'test_cfg.upsample_stride'),
])
def test_bad_test_cfg_is_rejected(test_cfg, match):
    with pytest.raises(ValueError, match=match):
        _model(**test_cfg)



def test_batch_of_different_sizes_evaluates_at_each_image_size():
    """Test batches keep each image's ground truth at its own size, where
    the CAMs are predicted, so the CAM metric accepts a batch of two."""
    from mmengine.structures import PixelData

    from wsstool.evaluation import CAMIoUMetric
    model = _model(upsample_stride=16).eval()
    data = _batch()
    for sample in data['data_samples']:
        sample.gt_sem_seg = PixelData(data=torch.zeros(
            1, *sample.metainfo['ori_shape'], dtype=torch.int64))
    with torch.no_grad():
        outputs = model.test_step(data)
    metric = CAMIoUMetric(num_classes=NUM_CLASSES + 1)
    metric.process(data, [output.to_dict() for output in outputs])
    metric.evaluate(2)
    # every ground-truth pixel of both images counted once, at its own size
    assert metric.confusion_matrices[0].sum() == 20 * 26 + 36 * 44
