import pytest
import torch

from wsstool.models.erasers import (BaseEraser, ErasingInputs,
                                    SimulatedInterImageEraser)
from wsstool.registry import ERASERS


def _inputs(batch=2, height=3, width=4, num_classes=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, height, width, generator=gen)
    fg_cam = torch.rand(batch, 1, height, width, generator=gen)
    labels = (torch.rand(batch, num_classes, generator=gen) > 0.5).float()
    return ErasingInputs(images=images, fg_cam=fg_cam, labels=labels)


def test_hard_threshold_eraser_zeroes_exactly_the_confident_pixels():
    eraser = ERASERS.build(dict(type='HardThresholdEraser', threshold=0.5))
    assert isinstance(eraser, BaseEraser)
    images = torch.arange(1., 13.).view(1, 3, 2, 2)
    fg_cam = torch.tensor([[[[0.1, 0.5], [0.7, 0.49]]]])
    erased = eraser(
        ErasingInputs(images=images, fg_cam=fg_cam, labels=torch.ones(1, 2)))
    # the pixels (0, 1) and (1, 0) reach 0.5 and are erased in every channel
    expected = torch.tensor([[[1., 0.], [0., 4.]], [[5., 0.], [0., 8.]],
                             [[9., 0.], [0., 12.]]])
    assert torch.equal(erased[0], expected)


def test_hard_threshold_eraser_default_threshold_on_random_maps():
    eraser = ERASERS.build(dict(type='HardThresholdEraser'))
    inputs = _inputs()
    erased = eraser(inputs)
    for b in range(2):
        for y in range(3):
            for x in range(4):
                keep = inputs.fg_cam[b, 0, y, x].item() < 0.6
                want = inputs.images[b, :, y, x] if keep else torch.zeros(3)
                assert torch.equal(erased[b, :, y, x], want)


def test_soft_cam_eraser_weights_kept_pixels_by_their_cam():
    eraser = ERASERS.build(dict(type='SoftCAMEraser', threshold=0.6))
    images = torch.full((1, 3, 2, 2), 2.0)
    fg_cam = torch.tensor([[[[0.0, 0.25], [0.6, 0.9]]]], requires_grad=True)
    erased = eraser(
        ErasingInputs(images=images, fg_cam=fg_cam, labels=torch.ones(1, 2)))
    # background (cam 0) is dimmed to 0 too; 0.25 -> weight 0.25; >= 0.6 -> 0
    expected = torch.tensor([[0.0, 0.5], [0.0, 0.0]]).expand(3, 2, 2)
    assert torch.equal(erased[0], expected)
    # gradients reach the CAM where it weights the image (AEFT does not
    # detach): d(sum erased)/d cam = 3 channels * 2.0 on kept pixels
    erased.sum().backward()
    assert torch.equal(fg_cam.grad[0, 0],
                       torch.tensor([[6.0, 6.0], [0.0, 0.0]]))


def test_threshold_validation():
    for eraser_type in ('HardThresholdEraser', 'SoftCAMEraser'):
        with pytest.raises(ValueError, match='threshold'):
            ERASERS.build(dict(type=eraser_type, threshold=1.5))
        with pytest.raises(ValueError, match='threshold'):
            ERASERS.build(dict(type=eraser_type, threshold=0))


def test_erasing_inputs_rejects_bad_shapes():
    inputs = _inputs()
    with pytest.raises(ValueError, match='fg_cam'):
        ErasingInputs(inputs.images, inputs.fg_cam[:, :, :2], inputs.labels)
    with pytest.raises(ValueError, match='images'):
        ErasingInputs(inputs.images[:, :2], inputs.fg_cam, inputs.labels)
    with pytest.raises(ValueError, match='labels'):
        ErasingInputs(inputs.images, inputs.fg_cam, inputs.labels[:1])
    with pytest.raises(ValueError, match='pseudo_labels'):
        ErasingInputs(inputs.images, inputs.fg_cam, inputs.labels,
                      pseudo_labels=torch.zeros(2, 3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match='class_cams'):
        ErasingInputs(inputs.images, inputs.fg_cam, inputs.labels,
                      class_cams=torch.zeros(2, 4, 3, 4))
    full = ErasingInputs(
        inputs.images, inputs.fg_cam, inputs.labels,
        class_cams=torch.zeros(2, 5, 3, 4),
        pseudo_labels=torch.zeros(2, 3, 4, dtype=torch.long),
        raw_cams=torch.zeros(2, 5, 3, 4))
    assert full.raw_cams.shape == (2, 5, 3, 4)


def test_base_eraser_is_abstract():
    with pytest.raises(TypeError):
        BaseEraser()


@pytest.mark.parametrize('dim', ['height', 'width'])
def test_sie_composes_images_cams_and_pseudo_labels(dim):
    sie = ERASERS.build(
        dict(type='SimulatedInterImageEraser', num_pairs=2, dim=dim))
    assert isinstance(sie, SimulatedInterImageEraser)
    gen = torch.Generator().manual_seed(1)
    anchor = torch.randn(3, 3, 4, 5, generator=gen)
    partner = torch.randn(3, 3, 4, 5, generator=gen)
    composed = sie.compose(anchor, partner)
    assert composed.shape == ((2, 3, 8, 5) if dim == 'height' else
                              (2, 3, 4, 10))
    for i in range(2):
        for y in range(composed.shape[2]):
            for x in range(composed.shape[3]):
                in_partner = y >= 4 if dim == 'height' else x >= 5
                src = partner if in_partner else anchor
                want = src[i, :, y % 4, x % 5]
                assert torch.equal(composed[i, :, y, x], want)

    labels_a = torch.randint(0, 256, (3, 4, 5), generator=gen)
    labels_p = torch.randint(0, 256, (3, 4, 5), generator=gen)
    composed_labels = sie.compose(labels_a, labels_p)
    assert composed_labels.dtype == torch.int64
    assert composed_labels.shape == ((2, 8, 5) if dim == 'height' else
                                     (2, 4, 10))
    second_half = (composed_labels[1, 4:] if dim == 'height' else
                   composed_labels[1, :, 5:])
    assert torch.equal(second_half, labels_p[1])


def test_sie_compose_labels_is_the_logical_or_of_the_first_pairs():
    sie = ERASERS.build(dict(type='SimulatedInterImageEraser'))
    assert (sie.num_pairs, sie.dim) == (4, 'height')
    anchor = torch.tensor([[1., 0., 0.], [0., 1., 1.], [1., 1., 0.],
                           [0., 0., 0.], [1., 0., 0.]])
    partner = torch.tensor([[1., 1., 0.], [0., 0., 1.], [0., 0., 1.],
                            [0., 0., 1.], [0., 1., 0.]])
    merged = sie.compose_labels(anchor, partner)
    assert merged.dtype == torch.float32
    assert torch.equal(
        merged,
        torch.tensor([[1., 1., 0.], [0., 1., 1.], [1., 1., 1.],
                      [0., 0., 1.]]))


def test_sie_with_fewer_samples_than_pairs():
    sie = ERASERS.build(dict(type='SimulatedInterImageEraser', num_pairs=4))
    anchor, partner = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    composed = sie.compose(anchor, partner)
    assert composed.shape == (2, 3, 8, 4)
    assert composed[:, :, :4].eq(0).all() and composed[:, :, 4:].eq(1).all()
    merged = sie.compose_labels(torch.eye(2, 3), torch.zeros(2, 3))
    assert torch.equal(merged, torch.eye(2, 3))


def test_sie_rejects_bad_arguments():
    with pytest.raises(ValueError, match='dim'):
        SimulatedInterImageEraser(dim='depth')
    with pytest.raises(ValueError, match='num_pairs'):
        SimulatedInterImageEraser(num_pairs=0)
    sie = SimulatedInterImageEraser()
    with pytest.raises(ValueError, match='equal shape'):
        sie.compose(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match='H, W'):
        sie.compose(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='compose_labels'):
        sie.compose_labels(torch.zeros(2, 3), torch.zeros(3, 3))
