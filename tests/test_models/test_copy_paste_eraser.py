import math
from collections import deque

import numpy as np
import pytest
import torch

from wsstool.models.erasers import CopyPasteEraser, ErasingInputs
from wsstool.models.erasers.copy_paste import PasteRecord, gaussian_smooth
from wsstool.registry import ERASERS

NUM_CLASSES = 3


# ---------------------------------------------------------------------------
# Independent reference implementations (explicit loops)
# ---------------------------------------------------------------------------
def _loop_gaussian(cam, sigma):
    """Separable Gaussian, kernel truncated at 4 sigma, mirror borders that
    repeat the edge pixel."""
    radius = int(4 * sigma + 0.5)
    weights = [math.exp(-k * k / (2 * sigma * sigma))
               for k in range(-radius, radius + 1)]
    total = sum(weights)
    weights = [w / total for w in weights]

    def mirror(i, n):
        i %= 2 * n
        return i if i < n else 2 * n - 1 - i

    height, width = cam.shape
    rows = np.zeros_like(cam, dtype=np.float64)
    for y in range(height):
        for x in range(width):
            rows[y, x] = sum(w * cam[y, mirror(x + k - radius, width)]
                             for k, w in enumerate(weights))
    out = np.zeros_like(rows)
    for y in range(height):
        for x in range(width):
            out[y, x] = sum(w * rows[mirror(y + k - radius, height), x]
                            for k, w in enumerate(weights))
    return out


def _flood_fill(mask, y, x):
    """8-connected component of ``mask`` containing ``(y, x)``."""
    height, width = mask.shape
    seen, stack = np.zeros_like(mask, dtype=bool), [(y, x)]
    seen[y, x] = True
    while stack:
        cy, cx = stack.pop()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = cy + dy, cx + dx
                if (0 <= ny < height and 0 <= nx < width and mask[ny, nx]
                        and not seen[ny, nx]):
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return seen


def _loop_box(cam, sigma=2.0, thr=0.6, margin=5):
    smoothed = _loop_gaussian(cam.numpy().astype(np.float64), sigma)
    peak_y, peak_x = divmod(int(smoothed.argmax()), smoothed.shape[1])
    ys, xs = np.nonzero(_flood_fill(smoothed > thr, peak_y, peak_x))
    height, width = cam.shape
    return (max(0, ys.min() - margin), max(0, xs.min() - margin),
            min(height, ys.max() + 1 + margin),
            min(width, xs.max() + 1 + margin))


def _loop_bilinear(crop, out_h, out_w):
    """Bilinear resize with half-pixel centres, sources clamped at 0."""
    channels, in_h, in_w = crop.shape
    out = torch.zeros(channels, out_h, out_w)
    for y in range(out_h):
        sy = max((y + 0.5) * in_h / out_h - 0.5, 0.0)
        y0 = int(sy)
        y1, ly = min(y0 + 1, in_h - 1), sy - y0
        for x in range(out_w):
            sx = max((x + 0.5) * in_w / out_w - 0.5, 0.0)
            x0 = int(sx)
            x1, lx = min(x0 + 1, in_w - 1), sx - x0
            out[:, y, x] = ((1 - ly) * (1 - lx) * crop[:, y0, x0] +
                            (1 - ly) * lx * crop[:, y0, x1] +
                            ly * (1 - lx) * crop[:, y1, x0] +
                            ly * lx * crop[:, y1, x1])
    return out


# ---------------------------------------------------------------------------
# Input builders
# ---------------------------------------------------------------------------
def _labels(*class_lists):
    labels = torch.zeros(len(class_lists), NUM_CLASSES)
    for i, classes in enumerate(class_lists):
        labels[i, list(classes)] = 1
    return labels


def _pseudo_label(size, regions=()):
    """(H, W) int64 map, 0 outside ``regions`` of (value, y0, x0, y1, x1)."""
    label = torch.zeros(size, size, dtype=torch.long)
    for value, y0, x0, y1, x1 in regions:
        label[y0:y1, x0:x1] = value
    return label


def _inputs(labels, pseudo_labels, fg_cam=None, class_cams=None, seed=0):
    batch, (height, width) = len(labels), pseudo_labels.shape[-2:]
    generator = torch.Generator().manual_seed(seed)
    if fg_cam is None:
        fg_cam = torch.zeros(batch, 1, height, width)
    if class_cams is None:
        class_cams = torch.zeros(batch, NUM_CLASSES, height, width)
    return ErasingInputs(
        images=torch.randn(batch, 3, height, width, generator=generator),
        fg_cam=fg_cam,
        labels=labels,
        class_cams=class_cams,
        pseudo_labels=pseudo_labels,
        raw_cams=torch.rand(batch, NUM_CLASSES, height, width,
                            generator=generator))


def _blob(size, y0, x0, y1, x1):
    cam = torch.zeros(size, size)
    cam[y0:y1, x0:x1] = 1.0
    return cam


def _eraser(**kwargs):
    cfg = dict(type='CopyPasteEraser', min_bank_classes=1, min_bank_items=1,
               area_range=(0.0, 1.0), seed=0)
    cfg.update(kwargs)
    return ERASERS.build(cfg)


def _box_sizes(eraser, class_index):
    return [tuple(item.crop.shape[-2:]) for item in eraser.bank[class_index]]


# ---------------------------------------------------------------------------
# Memory bank
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('area_range, admitted', [
    ((0.16, 0.6), True),  # the lower bound is inclusive
    ((0.1, 0.16), True),  # so is the upper bound
    ((0.17, 0.6), False),
    ((0.1, 0.15), False),
])
def test_bank_admission_area_ratio_is_measured_after_dilation(
        area_range, admitted):
    # 6 x 6 foreground, dilated 3 x 3 to 8 x 8 = 64 px of 20 x 20: 0.16
    eraser = _eraser(area_range=area_range, min_bank_items=100)
    eraser(_inputs(_labels([1]), _pseudo_label(20, [(2, 5, 5, 11, 11)])[None]))
    assert (1 in eraser.bank) is admitted


def test_bank_item_is_the_largest_8_connected_component():
    pseudo = _pseudo_label(20, [
        (2, 2, 2, 5, 5),      # 3 x 3 ...
        (2, 5, 5, 8, 9),      # ... touching this 3 x 4 at a corner: 21 px
        (2, 12, 12, 16, 16),  # 16 px: largest only under 4-connectivity
        (255, 9, 9, 11, 11),  # ignore pixels are not foreground
    ])
    inputs = _inputs(_labels([1]), pseudo[None])
    eraser = _eraser(min_bank_items=100)
    eraser(inputs)

    (item, ) = eraser.bank[1]
    # dilated component: rows 1..8, cols 1..9 -> box 8 high, 9 wide
    foreground = np.zeros((20, 20), dtype=bool)
    foreground[2:5, 2:5] = foreground[5:8, 5:9] = True
    dilated = np.zeros_like(foreground)
    for y in range(20):
        for x in range(20):
            dilated[y, x] = foreground[max(0, y - 1):y + 2,
                                       max(0, x - 1):x + 2].any()
    assert item.mask.tolist() == dilated[1:9, 1:10].tolist()
    torch.testing.assert_close(item.crop, inputs.images[0, :, 1:9, 1:10])
    assert item.aspect_ratio == 9 / 8
    assert item.box_area == 72
    cam_sum = sum(float(inputs.raw_cams[0, 1, y, x])
                  for y in range(1, 9) for x in range(1, 10))
    assert item.positive_add == pytest.approx(cam_sum / 400, rel=1e-5)


def test_bank_admits_single_class_images_only():
    region = [(1, 5, 5, 11, 11)]
    pseudo = torch.stack([_pseudo_label(20, region)] * 3 +
                         [_pseudo_label(20)])
    labels = _labels([0, 1], [], [2], [1])  # multi, none, single, single
    eraser = _eraser(min_bank_items=100)
    eraser(_inputs(labels, pseudo))
    # image 3 is single-class but has no foreground
    assert list(eraser.bank) == [2]
    assert eraser.num_bank_items == 1


def test_bank_is_a_fifo_of_bank_size_per_class():
    eraser = _eraser(bank_size=2, min_bank_items=100)
    for width in (4, 5, 6):
        pseudo = _pseudo_label(20, [(1, 5, 5, 9, 5 + width)])
        eraser(_inputs(_labels([0]), pseudo[None]))
    # dilation adds one pixel on each side; the first item was dropped
    assert _box_sizes(eraser, 0) == [(6, 7), (6, 8)]
    assert isinstance(eraser.bank[0], deque)


# ---------------------------------------------------------------------------
# Activation and selection
# ---------------------------------------------------------------------------
def _source_and_uncertain_batch(source_class, uncertain_classes=(2, )):
    """Image 0: a bank source of ``source_class`` (certain); image 1:
    uncertain, with a CAM blob."""
    pseudo = torch.stack([
        _pseudo_label(32, [(source_class + 1, 4, 6, 12, 20)]),
        _pseudo_label(32, [(3, 20, 20, 24, 24), (255, 24, 20, 28, 24)]),
    ])
    fg_cam = torch.stack([torch.zeros(32, 32), _blob(32, 14, 8, 26, 20)])
    labels = _labels([source_class], uncertain_classes)
    return _inputs(labels, pseudo, fg_cam=fg_cam[:, None])


def test_bank_activates_at_min_classes_and_items():
    # the uncertain image's foreground (36 / 1024 after dilation) is too
    # small to enter the bank
    eraser = _eraser(min_bank_classes=2, min_bank_items=3,
                     area_range=(0.05, 1.0))
    steps = [(0, False), (0, False), (1, True)]  # (source class, active)
    for source_class, active in steps:
        inputs = _source_and_uncertain_batch(source_class)
        erased = eraser(inputs)
        assert eraser.bank_active is active
        assert bool(eraser.last_paste) is active
        # inactive bank: exactly the base eraser's output
        assert torch.equal(erased, eraser.base(inputs)) is not active
    assert (len(eraser.bank), eraser.num_bank_items) == (2, 3)


def _selection_eraser(**weights):
    # dilated boxes (h, w): (4, 4), (11, 9), (5, 10)
    pseudo = torch.stack([
        _pseudo_label(20, [(1, 2, 2, 4, 4)]),
        _pseudo_label(20, [(1, 2, 2, 11, 9)]),
        _pseudo_label(20, [(1, 2, 2, 5, 10)]),
    ])
    eraser = _eraser(min_bank_items=100, **weights)
    eraser(_inputs(_labels([0], [0], [0]), pseudo))
    assert _box_sizes(eraser, 0) == [(4, 4), (11, 9), (5, 10)]
    return eraser


@pytest.mark.parametrize('weights, target, expected', [
    # target 10 x 10; costs 0.8 |dlog aspect| + 0.2 |dlog area|:
    # (4, 4): 0 + 0.2 ln 6.25 = 0.367; (11, 9): 0.8 ln(11/9) + 0.2 ln(100/99)
    # = 0.163; (5, 10): 0.8 ln 2 + 0.2 ln 2 = 0.693
    (dict(), (10, 10), (11, 9)),
    # aspect only: (4, 4) has the target's aspect ratio 1
    (dict(aspect_weight=1.0, area_weight=0.0), (10, 10), (4, 4)),
    # target 4 x 12 (aspect 3, area 48): (4, 4): 0.8 ln 3 + 0.2 ln 3 = 1.099;
    # (11, 9): 0.8 ln(33/9) + 0.2 ln(99/48) = 1.184;
    # (5, 10): 0.8 ln 1.5 + 0.2 ln(50/48) = 0.333
    (dict(), (4, 12), (5, 10)),
    # area only: 99 is the closest area to 100
    (dict(aspect_weight=0.0, area_weight=1.0), (10, 10), (11, 9)),
])
def test_selection_minimises_weighted_log_distance(weights, target,
                                                   expected):
    eraser = _selection_eraser(**weights)
    item = eraser.select_bank_item(0, *target)
    assert tuple(item.crop.shape[-2:]) == expected


# ---------------------------------------------------------------------------
# Pasting
# ---------------------------------------------------------------------------
def test_gaussian_smooth_matches_loop_implementation():
    cam = torch.rand(12, 15, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(
        gaussian_smooth(cam.numpy(), 2.0), _loop_gaussian(cam.numpy(), 2.0),
        atol=1e-5)


@pytest.mark.parametrize('blob', [(14, 8, 26, 20), (0, 1, 9, 7)])
def test_paste_box_is_the_peak_component_with_margin(blob):
    eraser = _eraser()
    cam = _blob(32, *blob)
    cam[blob[0]:blob[2], blob[1]] = 0.9  # an off-centre peak
    cam[28:31, 28:31] = 1.0  # a second, smaller component
    assert eraser.paste_box(cam) == _loop_box(cam)


def test_paste_box_is_none_when_the_smoothed_peak_is_low():
    assert _eraser().paste_box(torch.full((16, 16), 0.6)) is None


def test_pasted_rectangle_is_the_resized_bank_crop():
    inputs = _source_and_uncertain_batch(source_class=0)
    eraser = _eraser()
    erased = eraser(inputs)
    base = eraser.base(inputs)

    # the bank crop: image 0 inside its dilated pseudo-label box
    crop = inputs.images[0, :, 3:13, 5:21]
    positive_add = float(inputs.raw_cams[0, 0, 3:13, 5:21].sum()) / 32**2
    y0, x0, y1, x1 = _loop_box(inputs.fg_cam[1, 0])
    assert eraser.last_paste == [
        PasteRecord(1, 0, (y0, x0, y1, x1), pytest.approx(positive_add))]

    expected = base.clone()
    expected[1, :, y0:y1, x0:x1] = _loop_bilinear(crop, y1 - y0, x1 - x0)
    torch.testing.assert_close(erased, expected)


def test_paste_candidates_exceed_the_batch_quantile():
    # ratios #255 / #fg: 0, 0.5, 2, 1 (no foreground); linear 25 % quantile
    # of [0, 0.5, 1, 2] = 0.375
    pseudo = torch.stack([
        _pseudo_label(8, [(1, 0, 0, 2, 2)]),
        _pseudo_label(8, [(1, 0, 0, 2, 4), (255, 4, 0, 5, 4)]),
        _pseudo_label(8, [(1, 0, 0, 2, 2), (255, 4, 0, 6, 4)]),
        _pseudo_label(8, [(255, 4, 0, 6, 4)]),
    ])
    candidates = _eraser().paste_candidates(pseudo)
    assert candidates.tolist() == [False, True, True, True]
    # equal ratios: none lies strictly above the quantile
    assert _eraser().paste_candidates(pseudo[[1, 1]]).tolist() == [False] * 2


def test_only_uncertain_images_are_pasted():
    # ratios 0 (bank source), 3, 0.1, 0.2; median = 0.15
    pseudo = torch.stack([
        _pseudo_label(32, [(1, 4, 6, 12, 20)]),
        _pseudo_label(32, [(2, 0, 0, 1, 10), (255, 4, 0, 7, 10)]),
        _pseudo_label(32, [(2, 0, 0, 1, 10), (255, 4, 0, 5, 1)]),
        _pseudo_label(32, [(2, 0, 0, 1, 10), (255, 4, 0, 5, 2)]),
    ])
    fg_cam = torch.stack([_blob(32, 10, 10, 22, 22)] * 4)[:, None]
    inputs = _inputs(_labels([0], [1], [1], [1]), pseudo, fg_cam=fg_cam)
    eraser = _eraser(uncertainty_quantile=0.5)
    erased = eraser(inputs)
    assert [record.batch_index for record in eraser.last_paste] == [1, 3]
    base = eraser.base(inputs)
    for i in (0, 2):
        assert torch.equal(erased[i], base[i])


def test_unlabelled_uncertain_images_are_not_pasted():
    inputs = _source_and_uncertain_batch(0, uncertain_classes=())
    eraser = _eraser()
    erased = eraser(inputs)
    assert eraser.bank_active and eraser.last_paste == []
    assert torch.equal(erased, eraser.base(inputs))


def test_pasted_class_is_absent_from_the_image():
    pseudo = torch.stack([
        _pseudo_label(32, [(1, 4, 6, 12, 20)]),
        _pseudo_label(32, [(2, 4, 6, 12, 20)]),
        _pseudo_label(32, [(2, 0, 0, 1, 10), (255, 4, 0, 7, 10)]),
    ])
    fg_cam = torch.stack([_blob(32, 10, 10, 22, 22)] * 3)[:, None]
    inputs = _inputs(_labels([0], [1], [1]), pseudo, fg_cam=fg_cam)
    for seed in range(8):
        eraser = _eraser(seed=seed)
        eraser(inputs)
        assert [(r.batch_index, r.class_index)
                for r in eraser.last_paste] == [(2, 0)]


def test_no_paste_without_an_absent_bank_class():
    inputs = _source_and_uncertain_batch(source_class=2)
    eraser = _eraser()
    erased = eraser(inputs)
    assert eraser.bank_active and eraser.last_paste == []
    assert torch.equal(erased, eraser.base(inputs))


def test_multi_class_images_use_the_cam_of_a_random_present_class():
    inputs = _source_and_uncertain_batch(0, uncertain_classes=(1, 2))
    inputs.class_cams[1, 1] = _blob(32, 2, 2, 10, 12)
    inputs.class_cams[1, 2] = _blob(32, 18, 16, 30, 30)
    expected = {_loop_box(inputs.class_cams[1, 1]),
                _loop_box(inputs.class_cams[1, 2])}
    boxes = []
    for seed in range(10):
        eraser = _eraser(seed=seed)
        eraser(inputs)
        boxes.append(eraser.last_paste[0].box)
        # the same seed repeats the same choice
        twin = _eraser(seed=seed)
        twin(inputs)
        assert twin.last_paste == eraser.last_paste
    assert set(boxes) == expected


# ---------------------------------------------------------------------------
# Configuration, errors, devices
# ---------------------------------------------------------------------------
def test_default_config():
    eraser = ERASERS.build(dict(type='CopyPasteEraser'))
    assert isinstance(eraser, CopyPasteEraser)
    assert eraser.base.threshold == 0.6
    assert (eraser.bank_size, eraser.min_bank_classes,
            eraser.min_bank_items) == (30, 10, 20)
    assert eraser.area_range == (0.1, 0.6)
    assert eraser.state_dict() == {}


@pytest.mark.parametrize('kwargs, key', [
    (dict(bank_size=0), 'bank_size'),
    (dict(min_bank_classes=1.5), 'min_bank_classes'),
    (dict(area_range=(0.6, 0.1)), 'area_range'),
    (dict(cam_thr=1.0), 'cam_thr'),
    (dict(smooth_sigma=0), 'smooth_sigma'),
    (dict(box_margin=-1), 'box_margin'),
    (dict(uncertainty_quantile=1.5), 'uncertainty_quantile'),
    (dict(area_weight=-0.1), 'area_weight'),
])
def test_invalid_config_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        CopyPasteEraser(**kwargs)


@pytest.mark.parametrize('key', ['pseudo_labels', 'class_cams', 'raw_cams'])
def test_missing_input_names_the_key(key):
    inputs = _source_and_uncertain_batch(0)
    setattr(inputs, key, None)
    with pytest.raises(ValueError, match=key):
        _eraser()(inputs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_runs_on_cuda():
    cpu_inputs = _source_and_uncertain_batch(0)
    inputs = ErasingInputs(**{
        key: getattr(cpu_inputs, key).cuda()
        for key in ('images', 'fg_cam', 'labels', 'class_cams',
                    'pseudo_labels', 'raw_cams')
    })
    cpu_eraser, eraser = _eraser(), _eraser()
    erased = eraser(inputs)
    assert erased.device == inputs.images.device
    assert eraser.bank[0][0].crop.device == inputs.images.device
    torch.testing.assert_close(erased.cpu(), cpu_eraser(cpu_inputs))
    assert eraser.last_paste == cpu_eraser.last_paste
