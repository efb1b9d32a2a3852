"""SynthVOC: a procedurally generated dataset in PASCAL VOC layout.

SynthVOC is wsstool's built-in dataset: it is generated on first use, needs
no download, and is small enough to train a CAM baseline on a CPU. It
reproduces the three difficulties WSSS methods are designed for:

1. **Partial activation.** Every object is a body whose shape and appearance
   are drawn from one distribution shared by all classes, carrying a small
   class-specific *discriminative part* (a patterned patch in two class
   colours). A classifier needs only the part, so its CAMs cover the part.
2. **Co-occurrence.** Some classes have a context scene (``boat`` on
   ``water``, ``cow`` on ``grass``, ...) on which they appear with
   probability ``cooccurrence_prob``; there, with probability
   ``hidden_part_prob``, the part is hidden and only the scene tells the
   class, so classifiers learn the scene and CAMs leak into it.
3. **Cluttered scenes.** One to ``len(num_objects_probs)`` objects per image,
   of different scales, occluding each other, often of different classes.

The files follow VOC 2012 as used in WSSS (see ``docs/synthvoc.md``):
``JPEGImages``, ``SegmentationClass`` (palette PNG with a void band of 255
along object borders, for ``train`` and ``val``), ``SegmentationClassAug``
(grey PNG, all images), ``Annotations`` (XML), ``ImageSets/Segmentation``
(``train``, ``train_aug``, ``val``) and ``cls_labels.npy``; plus
``SegmentationPart`` (grey PNG: class id on the visible discriminative part,
0 elsewhere) and ``synthvoc.json`` (classes, palette, scenes, generation
parameters, format version and per-image scene/object statistics).
"""
import dataclasses
import errno
import json
import os
import os.path as osp
import shutil
import tempfile
import xml.etree.ElementTree as ET
from typing import NamedTuple, Optional, Sequence, Union

import cv2
import numpy as np
from mmengine.dist import barrier, get_rank
from PIL import Image

from wsstool.fileio import save_label_png
from wsstool.registry import DATASETS
from .label_io import label_colormap
from .voc import VOCDataset

FORMAT_VERSION = 1
META_FILE = 'synthvoc.json'
ID_YEAR = 2026
SCENES = ('sky', 'water', 'grass', 'road', 'indoor', 'sand')

# An object stays in the layout only if this much of it remains visible.
MIN_VISIBLE_FRACTION = 0.4
MIN_PART_VISIBLE_FRACTION = 0.6
PLACEMENT_TRIES = 30


class ClassSpec(NamedTuple):
    """A foreground class: its context scene (None: any scene) and the look
    of its discriminative part (two RGB colours and a pattern)."""
    name: str
    scene: Optional[str]
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    pattern: str


CLASS_SPECS = (
    ClassSpec('aeroplane', 'sky', ((230, 30, 30), (255, 255, 255)),
              'hstripes'),
    ClassSpec('boat', 'water', ((255, 200, 0), (20, 20, 20)), 'checker'),
    ClassSpec('car', 'road', ((255, 0, 200), (255, 255, 255)), 'vstripes'),
    ClassSpec('cow', 'grass', ((255, 120, 0), (20, 20, 20)), 'dots'),
    ClassSpec('person', None, ((0, 220, 220), (130, 0, 160)), 'diagonal'),
    ClassSpec('bottle', None, ((140, 40, 220), (255, 230, 0)),
              'hstripes'),
    ClassSpec('sheep', 'grass', ((250, 250, 250), (0, 0, 150)), 'checker'),
    ClassSpec('chair', None, ((20, 20, 20), (0, 220, 220)), 'vstripes'),
    ClassSpec('bird', 'sky', ((255, 150, 200), (0, 0, 150)), 'dots'),
    ClassSpec('dog', None, ((160, 255, 60), (120, 0, 60)), 'diagonal'),
)
MAX_CLASSES = len(CLASS_SPECS)


def synthvoc_metainfo(num_classes: int) -> dict:
    """METAINFO of a SynthVOC dataset with ``num_classes`` foreground
    classes: ``classes`` ('background' first) and ``palette`` (RGB)."""
    classes = ('background', ) + tuple(
        spec.name for spec in CLASS_SPECS[:num_classes])
    return dict(
        classes=classes, palette=tuple(label_colormap(num_classes + 1)))


@dataclasses.dataclass(frozen=True)
class SynthVOCParams:
    """Generation parameters; equal parameters give byte-identical files.

    Args:
        seed: Seed of every random choice.
        num_train_aug: Images in ``train_aug`` (training set).
        num_train: Images in ``train`` (subset of ``train_aug`` with
            ``SegmentationClass`` GT, for CAM / pseudo-label evaluation).
        num_val: Images in ``val`` (disjoint from ``train_aug``).
        image_size: Longer image side in pixels.
        min_aspect: The shorter side is drawn from
            ``[min_aspect, 1] * image_size``.
        num_classes: Foreground classes, the first ones of ``CLASS_SPECS``.
        num_objects_probs: Probability of 1, 2, ... objects in an image.
        object_scale: Range of an object's diameter as a fraction of the
            shorter image side.
        part_fraction: Area of the discriminative part / area of the object.
        cooccurrence_prob: Probability that an image whose main object has a
            context scene shows that scene.
        occlusion_prob: Probability that a further object is placed
            overlapping an earlier one.
        hidden_part_prob: Probability that an object on its class's context
            scene shows no part, so that only the scene tells its class.
        void_width: Width in pixels of the void (255) band on each side of
            an object border in the masks (0: no band).
        jpeg_quality: JPEG quality of the images.
    """
    seed: int = 0
    num_train_aug: int = 480
    num_train: int = 100
    num_val: int = 100
    image_size: int = 128
    min_aspect: float = 0.75
    num_classes: int = 8
    num_objects_probs: tuple[float, ...] = (0.45, 0.35, 0.2)
    object_scale: tuple[float, float] = (0.35, 0.8)
    part_fraction: float = 0.08
    cooccurrence_prob: float = 0.85
    occlusion_prob: float = 0.5
    hidden_part_prob: float = 0.25
    void_width: int = 1
    jpeg_quality: int = 90

    def __post_init__(self):
        self._check_types()
        for field in dataclasses.fields(self):
            if field.type is float:
                object.__setattr__(self, field.name,
                                   float(getattr(self, field.name)))
        object.__setattr__(self, 'num_objects_probs',
                           tuple(float(p) for p in self.num_objects_probs))
        object.__setattr__(self, 'object_scale',
                           tuple(float(s) for s in self.object_scale))
        checks = [
            ('seed', self.seed >= 0, 'a non-negative integer'),
            ('num_train_aug', self.num_train_aug >= 1, '>= 1'),
            ('num_train', 0 <= self.num_train <= self.num_train_aug,
             f'in [0, num_train_aug={self.num_train_aug}]'),
            ('num_val', self.num_val >= 0, '>= 0'),
            ('image_size', self.image_size >= 32, '>= 32'),
            ('min_aspect', 0.2 <= self.min_aspect <= 1, 'in [0.2, 1]'),
            ('num_classes', 1 <= self.num_classes <= MAX_CLASSES,
             f'in [1, {MAX_CLASSES}]'),
            ('num_objects_probs', len(self.num_objects_probs) >= 1
             and min(self.num_objects_probs) >= 0
             and abs(sum(self.num_objects_probs) - 1) < 1e-6,
             'non-negative probabilities of 1, 2, ... objects summing to 1'),
            ('object_scale', len(self.object_scale) == 2
             and 0.1 <= self.object_scale[0] <= self.object_scale[1] <= 1,
             'a pair (low, high) with 0.1 <= low <= high <= 1'),
            ('part_fraction', 0 < self.part_fraction <= 0.5, 'in (0, 0.5]'),
            ('cooccurrence_prob', 0 <= self.cooccurrence_prob <= 1,
             'in [0, 1]'),
            ('occlusion_prob', 0 <= self.occlusion_prob <= 1, 'in [0, 1]'),
            ('hidden_part_prob', 0 <= self.hidden_part_prob <= 1,
             'in [0, 1]'),
            ('void_width', 0 <= self.void_width <= 8, 'in [0, 8]'),
            ('jpeg_quality', 1 <= self.jpeg_quality <= 100, 'in [1, 100]'),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f'SynthVOC parameter {name}='
                                 f'{getattr(self, name)!r}: expected '
                                 f'{expected}')

    def _check_types(self) -> None:
        """Reject values of the wrong type (e.g. strings from the command
        line) with an error naming the parameter."""

        def is_number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(
                value, bool)

        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
                expected = 'an integer'
            elif field.type is float:
                ok, expected = is_number(value), 'a number'
            else:
                ok = isinstance(value, (list, tuple)) and all(
                    is_number(v) for v in value)
                expected = 'a list of numbers'
            if not ok:
                raise ValueError(f'SynthVOC parameter {field.name}='
                                 f'{value!r}: expected {expected}')

    @classmethod
    def from_cfg(cls, cfg: Optional[dict] = None) -> 'SynthVOCParams':
        """Build from a (config) dict; unknown keys raise ``KeyError``."""
        cfg = dict(cfg or {})
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise KeyError(f'unknown SynthVOC generator parameter(s) '
                           f'{unknown}; expected some of {known}')
        return cls(**cfg)

    def to_dict(self) -> dict:
        """JSON-compatible dict (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()
        }


class SynthObject(NamedTuple):
    """One object of a layout.

    Attributes:
        label: Foreground class index (0 = first foreground class).
        center: (x, y) centre of the body.
        radius: Radius of the body's bounding circle.
        body: (H, W) bool, the object inside the image, part included.
        part: (H, W) bool, the discriminative part (a subset of body).
        part_center: (x, y) centre of the part.
        part_radius: Radius of the part disc.
        truncated: The object extends beyond the image border.
    """
    label: int
    center: tuple[float, float]
    radius: float
    body: np.ndarray
    part: np.ndarray
    part_center: tuple[float, float]
    part_radius: float
    truncated: bool


class SynthImage(NamedTuple):
    """A rendered image with its annotations.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        seg_map: (H, W) uint8 class ids (0 background) with the void band.
        part_map: (H, W) uint8 class id on visible discriminative parts.
        scene: Name of the background scene.
        objects: Per object (back to front): dict(label, name, bbox
            (xmin, ymin, xmax, ymax, 1-based inclusive), area and part_area
            (visible pixels), occluded, truncated).
    """
    image: np.ndarray
    seg_map: np.ndarray
    part_map: np.ndarray
    scene: str
    objects: list[dict]


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  cell: Union[float, tuple[float, float]]) -> np.ndarray:
    """(h, w) float32 noise in about [-1, 1] that varies over ``cell``
    pixels, or over (cell_y, cell_x) pixels along each axis."""
    cell_y, cell_x = (cell, cell) if np.isscalar(cell) else cell
    gh = int(np.ceil(h / max(cell_y, 1.0))) + 2
    gw = int(np.ceil(w / max(cell_x, 1.0))) + 2
    grid = rng.random((gh, gw), dtype=np.float32) * 2 - 1
    big = cv2.resize(grid, (int(gw * max(cell_x, 1.0)),
                            int(gh * max(cell_y, 1.0))),
                     interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def _jitter(rng: np.random.Generator, rgb: Sequence[float],
            amount: float) -> np.ndarray:
    """(3,) float32 colour ``rgb`` moved by up to ``amount`` per channel."""
    return np.clip(np.asarray(rgb, np.float32) +
                   rng.uniform(-amount, amount, 3).astype(np.float32), 0, 1)


def _render_scene(rng: np.random.Generator, scene: str, h: int,
                  w: int) -> np.ndarray:
    """(h, w, 3) float32 RGB texture in [0, 1] of a background scene."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    speckle = rng.normal(0, 1, (h, w)).astype(np.float32)
    if scene == 'sky':
        t = (ys / h)[..., None]
        img = (_jitter(rng, (0.30, 0.50, 0.85), 0.05) * (1 - t) +
               _jitter(rng, (0.72, 0.83, 0.96), 0.03) * t)
        cloud = np.clip((_smooth_noise(rng, h, w, h / 4) - 0.2) / 0.4, 0, 1)
        cloud = cloud[..., None] * rng.uniform(0.5, 0.9)
        img = img * (1 - cloud) + 0.97 * cloud
        img += 0.01 * speckle[..., None]
    elif scene == 'water':
        period = h / rng.uniform(10, 18)
        wave = np.sin(2 * np.pi * (ys / period + 0.3 * np.sin(
            2 * np.pi * xs / rng.uniform(0.3, 0.8) / w +
            rng.uniform(0, 2 * np.pi))) + rng.uniform(0, 2 * np.pi))
        shade = (1 + 0.25 * wave + 0.1 * _smooth_noise(rng, h, w, h / 3) +
                 0.03 * speckle)
        img = _jitter(rng, (0.08, 0.28, 0.50), 0.04) * shade[..., None]
        img += 0.18 * (wave > 0.93).astype(np.float32)[..., None]
    elif scene == 'grass':
        blades = _smooth_noise(rng, h, w, (h / 6, 1.5))
        shade = (1 + 0.15 * _smooth_noise(rng, h, w, h / 5) +
                 0.15 * blades + 0.06 * speckle)
        img = _jitter(rng, (0.22, 0.50, 0.16), 0.04) * shade[..., None]
    elif scene == 'road':
        grey = rng.uniform(0.30, 0.42)
        img = np.repeat((grey + 0.05 * _smooth_noise(rng, h, w, h / 4) +
                         0.06 * speckle)[..., None], 3, axis=2)
        lane_y = int(rng.uniform(0.35, 0.75) * h)
        thickness = max(1, h // 40)
        dash = max(4, w // 8)
        offset = int(rng.integers(0, 2 * dash))
        dashed = ((xs[0] + offset) // dash) % 2 == 0
        img[lane_y:lane_y + thickness, dashed] = (0.85, 0.85, 0.78)
    elif scene == 'indoor':
        floor_y = int(rng.uniform(0.55, 0.75) * h)
        wallpaper = np.sin(2 * np.pi * xs / rng.uniform(8, 14))
        wall = (_jitter(rng, (0.82, 0.74, 0.62), 0.04) *
                (1 + 0.04 * wallpaper + 0.02 * speckle)[..., None])
        plank = ((ys - floor_y) % rng.uniform(6, 10)) < 1
        grain = _smooth_noise(rng, h, w, (2, w / 6))
        floor = (_jitter(rng, (0.48, 0.32, 0.18), 0.04) *
                 (1 + 0.1 * grain - 0.3 * plank + 0.03 * speckle)[..., None])
        img = np.where((ys >= floor_y)[..., None], floor, wall)
    elif scene == 'sand':
        ripple = np.sin(2 * np.pi * (xs + ys) / rng.uniform(10, 16))
        shade = (1 + 0.08 * _smooth_noise(rng, h, w, h / 4) +
                 0.04 * ripple + 0.05 * speckle)
        img = _jitter(rng, (0.86, 0.76, 0.52), 0.04) * shade[..., None]
    else:
        raise ValueError(f'unknown SynthVOC scene {scene!r}; expected one '
                         f'of {SCENES}')
    return img.astype(np.float32)


def _render_body(rng: np.random.Generator, h: int, w: int,
                 size: float) -> np.ndarray:
    """(h, w, 3) float32 texture of an object body, drawn from the same
    distribution for every class: a low-saturation colour with shading and
    mottling on the scale of ``size`` / 3 (``size``: object size in
    pixels)."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(25, 90),
                      rng.integers(90, 180)]]])
    base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / np.float32(255)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys) / max(h, w)
    shade = (0.85 + 0.3 * ramp + 0.08 * _smooth_noise(rng, h, w, size / 3)
             + 0.03 * rng.normal(0, 1, (h, w)).astype(np.float32))
    return base * shade[..., None]


def _render_part(rng: np.random.Generator, spec: ClassSpec, h: int, w: int,
                 center: tuple[float, float], radius: float) -> np.ndarray:
    """(h, w, 3) float32 texture of a class's discriminative part: its
    pattern in its two colours, centred on ``center`` (x, y)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xs - center[0], ys - center[1]
    cell = max(2.0, 0.45 * radius)
    if spec.pattern == 'hstripes':
        second = np.floor(v / cell) % 2 == 1
    elif spec.pattern == 'vstripes':
        second = np.floor(u / cell) % 2 == 1
    elif spec.pattern == 'checker':
        second = (np.floor(u / cell) + np.floor(v / cell)) % 2 == 1
    elif spec.pattern == 'diagonal':
        second = np.floor((u + v) / (1.4 * cell)) % 2 == 1
    elif spec.pattern == 'dots':
        period = 2 * cell
        second = ((u % period - cell)**2 + (v % period - cell)**2 <
                  (0.6 * cell)**2)
    else:
        raise ValueError(f'unknown part pattern {spec.pattern!r} of class '
                         f'{spec.name!r}')
    colors = np.asarray(spec.colors, np.float32) / 255
    img = np.where(second[..., None], colors[1], colors[0])
    return img + 0.03 * rng.normal(0, 1, (h, w, 1)).astype(np.float32)


def _make_body(rng: np.random.Generator, h: int, w: int,
               center: tuple[float, float],
               radius: float) -> tuple[np.ndarray, bool]:
    """Draw a random blob, the same distribution for every class.

    Returns:
        (H, W) bool mask of the body inside the image, and whether the
        body extends beyond the image border.
    """
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = np.ones_like(angles)
    for k in (2, 3, 4):
        r += rng.uniform(0, 0.12) * np.cos(k * angles +
                                           rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.55, 1.0)
    rot = rng.uniform(0, np.pi)
    px, py = radius * r * np.cos(angles), radius * aspect * r * np.sin(angles)
    pts = np.stack([center[0] + np.cos(rot) * px - np.sin(rot) * py,
                    center[1] + np.sin(rot) * px + np.cos(rot) * py], 1)
    body = np.zeros((h, w), np.uint8)
    cv2.fillPoly(body, [np.round(pts * 16).astype(np.int32)], 1, shift=4)
    truncated = bool(pts.min() < 0 or pts[:, 0].max() > w - 1 or
                     pts[:, 1].max() > h - 1)
    return body.astype(bool), truncated


def _place_part(
        rng: np.random.Generator, body: np.ndarray,
        center: tuple[float, float], part_fraction: float
) -> tuple[np.ndarray, tuple[float, float], float]:
    """Place a part disc of ``part_fraction`` of the body's area inside the
    body, near one of its ends (like a head).

    Returns:
        (H, W) bool part mask (within ``body``), its centre (x, y) and its
        radius.
    """
    h, w = body.shape
    radius = float(np.sqrt(part_fraction * body.sum() / np.pi))
    pad = int(np.ceil(radius)) + 1
    dist = cv2.distanceTransform(
        cv2.copyMakeBorder(body.astype(np.uint8), pad, pad, pad, pad,
                           cv2.BORDER_CONSTANT, value=0), cv2.DIST_L2,
        3)[pad:-pad, pad:-pad]
    fits = np.flatnonzero(dist >= radius + 0.5)
    if len(fits):
        offset = np.hypot(fits % w - center[0], fits // w - center[1])
        fits = fits[offset >= np.quantile(offset, 0.7)]
        flat = fits[rng.integers(len(fits))]
    else:
        flat = int(np.argmax(dist))
    part_center = (float(flat % w), float(flat // w))
    part = np.zeros((h, w), np.uint8)
    cv2.circle(part, (int(part_center[0]) * 16, int(part_center[1]) * 16),
               int(round(radius * 16)), 1, thickness=-1, shift=4)
    return part.astype(bool) & body, part_center, radius


def _visible_masks(objects: Sequence[SynthObject]) -> list[np.ndarray]:
    """(H, W) bool visible region of each object (later ones on top)."""
    occluder = np.zeros_like(objects[0].body)
    visible = []
    for obj in reversed(objects):
        visible.append(obj.body & ~occluder)
        occluder |= obj.body
    return visible[::-1]


def _layout_is_valid(objects: Sequence[SynthObject],
                     void_width: int) -> bool:
    """Every object keeps enough visible body and part, and visible pixels
    that the void band cannot reach (so its class stays in the mask)."""
    kernel = np.ones((2 * void_width + 1, ) * 2, np.uint8)
    for obj, visible in zip(objects, _visible_masks(objects)):
        if (visible.sum() < MIN_VISIBLE_FRACTION * obj.body.sum()
                or (obj.part & visible).sum() <
                MIN_PART_VISIBLE_FRACTION * obj.part.sum()
                or not cv2.erode(visible.astype(np.uint8), kernel).any()):
            return False
    return True


def _sample_labels(rng: np.random.Generator, primary: int, scene: str,
                   num_objects: int, params: SynthVOCParams) -> list[int]:
    """Classes of the objects: the primary first, then classes drawn with
    weight 1 when the scene is their context (or they have none, or are
    the primary) and ``(1 - cooccurrence_prob) / 2`` otherwise."""
    specs = CLASS_SPECS[:params.num_classes]
    weights = np.array([
        1.0 if spec.scene in (None, scene) else
        (1 - params.cooccurrence_prob) / 2
        for spec in specs
    ])
    weights[primary] = 1.0
    others = rng.choice(len(specs), num_objects - 1, p=weights / weights.sum())
    return [primary] + [int(label) for label in others]


def _void_band(label_map: np.ndarray, width: int) -> np.ndarray:
    """(H, W) bool band of pixels within ``width`` of a label change."""
    if width == 0:
        return np.zeros(label_map.shape, bool)
    kernel = np.ones((2 * width + 1, ) * 2, np.uint8)
    return cv2.dilate(label_map, kernel) != cv2.erode(label_map, kernel)


def _object_center(rng: np.random.Generator, index: int,
                   radius: float, placed: Sequence[SynthObject], h: int,
                   w: int, occlusion_prob: float) -> tuple[float, float]:
    """(x, y) centre of object number ``index``: the first one lies inside
    the image; a later one overlaps a placed object with probability
    ``occlusion_prob`` and is anywhere in the image otherwise."""
    if index == 0:
        return (rng.uniform(min(radius, w / 2), max(w - radius, w / 2)),
                rng.uniform(min(radius, h / 2), max(h - radius, h / 2)))
    if rng.random() < occlusion_prob:
        anchor = placed[rng.integers(len(placed))]
        angle = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(0.3, 0.8) * (radius + anchor.radius)
        return (anchor.center[0] + dist * np.cos(angle),
                anchor.center[1] + dist * np.sin(angle))
    return rng.uniform(0, w), rng.uniform(0, h)


def _layout(rng: np.random.Generator, labels: Sequence[int], scene: str,
            h: int, w: int, params: SynthVOCParams) -> list[SynthObject]:
    """Place objects of classes ``labels`` back to front. An object on its
    class's context scene has no part with probability
    ``params.hidden_part_prob``. Each object gets ``PLACEMENT_TRIES``
    attempts at a layout that keeps every object visible enough (see
    :func:`_layout_is_valid`); a later object that fails them all is
    dropped."""
    objects = []
    for index, label in enumerate(labels):
        hide_part = (CLASS_SPECS[label].scene == scene
                     and rng.random() < params.hidden_part_prob)
        for _ in range(PLACEMENT_TRIES):
            radius = rng.uniform(*params.object_scale) * min(h, w) / 2
            center = _object_center(rng, index, radius, objects, h, w,
                                    params.occlusion_prob)
            body, truncated = _make_body(rng, h, w, center, radius)
            if hide_part:
                part, part_center, part_radius = (np.zeros_like(body),
                                                  center, 0.0)
            else:
                part, part_center, part_radius = _place_part(
                    rng, body, center, params.part_fraction)
            obj = SynthObject(label, center, radius, body, part,
                              part_center, part_radius, truncated)
            if _layout_is_valid(objects + [obj], params.void_width):
                objects.append(obj)
                break
        else:
            if index == 0:
                raise RuntimeError(
                    f'SynthVOC could not place an object in a {h}x{w} image '
                    f'with object_scale={params.object_scale} and '
                    f'void_width={params.void_width}; use larger objects '
                    'or images')
    return objects


def _object_records(objects: Sequence[SynthObject]) -> list[dict]:
    """Annotation of each object, measured on its visible region."""
    records = []
    for obj, visible in zip(objects, _visible_masks(objects)):
        ys, xs = np.nonzero(visible)
        records.append(
            dict(label=obj.label, name=CLASS_SPECS[obj.label].name,
                 bbox=[int(xs.min()) + 1, int(ys.min()) + 1,
                       int(xs.max()) + 1, int(ys.max()) + 1],
                 area=int(visible.sum()),
                 part_area=int((obj.part & visible).sum()),
                 occluded=bool((obj.body & ~visible).any()),
                 truncated=obj.truncated))
    return records


def render_synthvoc_image(params: SynthVOCParams, index: int,
                          primary: int) -> SynthImage:
    """Render image number ``index`` whose main object has class index
    ``primary``; deterministic in (params, index, primary)."""
    rng = np.random.default_rng([params.seed, index])
    long_side = params.image_size
    short_side = int(round(long_side * rng.uniform(params.min_aspect, 1)))
    h, w = ((short_side, long_side) if rng.random() < 0.7 else
            (long_side, short_side))
    spec = CLASS_SPECS[primary]
    scene = (spec.scene if spec.scene is not None
             and rng.random() < params.cooccurrence_prob else
             SCENES[rng.integers(len(SCENES))])
    num_objects = 1 + int(rng.choice(len(params.num_objects_probs),
                                     p=params.num_objects_probs))
    objects = _layout(
        rng, _sample_labels(rng, primary, scene, num_objects, params), scene,
        h, w, params)

    img = _render_scene(rng, scene, h, w)
    label_map = np.zeros((h, w), np.uint8)
    part_map = np.zeros((h, w), np.uint8)
    for obj in objects:
        body_tex = _render_body(rng, h, w, np.sqrt(obj.body.sum()))
        part_tex = _render_part(rng, CLASS_SPECS[obj.label], h, w,
                                obj.part_center, obj.part_radius)
        img[obj.body] = body_tex[obj.body]
        img[obj.part] = part_tex[obj.part]
        label_map[obj.body] = obj.label + 1
        part_map[obj.body] = 0
        part_map[obj.part] = obj.label + 1
    img = cv2.GaussianBlur(img, (3, 3), 0.5) * rng.uniform(0.85, 1.15)
    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    image = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    seg_map = np.where(_void_band(label_map, params.void_width), 255,
                       label_map).astype(np.uint8)
    return SynthImage(image, seg_map, part_map, scene,
                      _object_records(objects))


def _annotation_xml(img_id: str, h: int, w: int,
                    objects: Sequence[dict]) -> bytes:
    """VOC-style annotation XML of one image."""
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'SynthVOC'
    ET.SubElement(root, 'filename').text = f'{img_id}.jpg'
    ET.SubElement(ET.SubElement(root, 'source'),
                  'database').text = 'SynthVOC'
    size = ET.SubElement(root, 'size')
    for tag, value in (('width', w), ('height', h), ('depth', 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, 'segmented').text = '1'
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = str(int(obj['truncated']))
        ET.SubElement(node, 'occluded').text = str(int(obj['occluded']))
        ET.SubElement(node, 'difficult').text = '0'
        box = ET.SubElement(node, 'bndbox')
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'),
                              obj['bbox']):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='utf-8') + b'\n'


def _write_text(path: str, text: str) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _split_ids(params: SynthVOCParams) -> dict[str, list[str]]:
    """Sorted image ids of ``train``, ``train_aug`` and ``val``."""
    rng = np.random.default_rng(params.seed)
    total = params.num_train_aug + params.num_val
    ids = np.array([f'{ID_YEAR}_{i + 1:06d}' for i in range(total)])
    order = rng.permutation(total)
    train_aug = order[params.num_val:]
    return dict(
        train=sorted(ids[rng.permutation(train_aug)[:params.num_train]]),
        train_aug=sorted(ids[train_aug]),
        val=sorted(ids[order[:params.num_val]]))


def _primary_labels(params: SynthVOCParams, total: int) -> np.ndarray:
    """Class of each image's main object, balanced over the classes."""
    rng = np.random.default_rng([params.seed, total, params.num_classes])
    labels = np.resize(np.arange(params.num_classes), total)
    rng.shuffle(labels)
    return labels


def _write_dataset(root: str, params: SynthVOCParams) -> dict:
    """Write every SynthVOC file under the existing directory ``root``."""
    splits = _split_ids(params)
    with_gt = set(splits['train']) | set(splits['val'])
    all_ids = sorted(splits['train_aug'] + splits['val'])
    folders = ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
               'SegmentationPart', 'Annotations', 'ImageSets/Segmentation')
    for folder in folders:
        os.makedirs(osp.join(root, folder))
    palette = synthvoc_metainfo(params.num_classes)['palette']
    primaries = _primary_labels(params, len(all_ids))
    cls_labels, images = {}, {}
    for index, img_id in enumerate(all_ids):
        sample = render_synthvoc_image(params, index, int(primaries[index]))
        h, w = sample.seg_map.shape
        Image.fromarray(sample.image).save(
            osp.join(root, 'JPEGImages', f'{img_id}.jpg'), 'JPEG',
            quality=params.jpeg_quality)
        if img_id in with_gt:
            save_label_png(
                osp.join(root, 'SegmentationClass', f'{img_id}.png'),
                sample.seg_map, palette=palette)
        save_label_png(
            osp.join(root, 'SegmentationClassAug', f'{img_id}.png'),
            sample.seg_map)
        save_label_png(
            osp.join(root, 'SegmentationPart', f'{img_id}.png'),
            sample.part_map)
        with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'wb') as f:
            f.write(_annotation_xml(img_id, h, w, sample.objects))
        label = np.zeros(params.num_classes, np.float32)
        label[[obj['label'] for obj in sample.objects]] = 1
        cls_labels[img_id] = label
        images[img_id] = dict(
            scene=sample.scene,
            objects=[{key: obj[key] for key in ('name', 'area', 'part_area')}
                     for obj in sample.objects])
    for split, ids in splits.items():
        _write_text(osp.join(root, 'ImageSets', 'Segmentation',
                             f'{split}.txt'), ''.join(f'{i}\n' for i in ids))
    with open(osp.join(root, 'cls_labels.npy'), 'wb') as f:
        np.save(f, cls_labels, allow_pickle=True)
    meta = dict(
        format_version=FORMAT_VERSION,
        params=params.to_dict(),
        **synthvoc_metainfo(params.num_classes),
        scenes=list(SCENES),
        class_scenes={spec.name: spec.scene
                      for spec in CLASS_SPECS[:params.num_classes]},
        splits={split: len(ids) for split, ids in splits.items()},
        images=images)
    _write_text(osp.join(root, META_FILE), json.dumps(meta, indent=1) + '\n')
    return meta


def generate_synthvoc(data_root: str,
                      params: SynthVOCParams = SynthVOCParams()) -> dict:
    """Generate a SynthVOC dataset at ``data_root`` atomically.

    The files are written into a temporary sibling directory that is renamed
    to ``data_root`` at the end, so an interrupted generation leaves nothing
    behind.

    Returns:
        dict: The content of ``synthvoc.json``.

    Raises:
        FileExistsError: ``data_root`` exists and is not an empty directory
            (also when another process finished first).
    """
    data_root = osp.abspath(data_root)
    if osp.exists(data_root) and (not osp.isdir(data_root)
                                  or os.listdir(data_root)):
        raise FileExistsError(f'cannot generate SynthVOC at {data_root}: '
                              'the path exists and is not an empty directory')
    parent, name = osp.split(data_root)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{name}.', suffix='.tmp', dir=parent)
    try:
        meta = _write_dataset(staging, params)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, data_root)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(
                    f'cannot generate SynthVOC at {data_root}: it appeared '
                    'while generating') from error
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta


def check_synthvoc(data_root: str, params: SynthVOCParams) -> dict:
    """Check that ``data_root`` holds SynthVOC generated with ``params``.

    Returns:
        dict: The content of ``synthvoc.json``.

    Raises:
        FileNotFoundError: No ``synthvoc.json`` in ``data_root``.
        ValueError: Another format version or other generation parameters
            (the message lists the differing keys).
    """
    path = osp.join(data_root, META_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: {data_root} is not a SynthVOC dataset. '
            'Generate it with tools/make_synthvoc.py or build SynthVOCDataset '
            'with generate=True')
    with open(path, encoding='utf-8') as f:
        meta = json.load(f)
    if meta.get('format_version') != FORMAT_VERSION:
        raise ValueError(
            f'{path} has format version {meta.get("format_version")!r} but '
            f'this wsstool reads version {FORMAT_VERSION}; delete {data_root} '
            'to regenerate it')
    stored, wanted = meta.get('params', {}), params.to_dict()
    differing = sorted(key for key in stored.keys() | wanted.keys()
                       if stored.get(key) != wanted.get(key))
    if differing:
        details = '; '.join(f'{key}: stored {stored.get(key)!r}, requested '
                            f'{wanted.get(key)!r}' for key in differing)
        raise ValueError(
            f'{path} was generated with other parameters ({details}). '
            f'Delete {data_root} to regenerate it, or set generator_cfg to '
            'the stored values')
    return meta


def prepare_synthvoc(data_root: str, params: SynthVOCParams,
                     generate: bool = True) -> dict:
    """Make sure ``data_root`` holds SynthVOC generated with ``params``.

    When ``generate`` and ``synthvoc.json`` is absent, rank 0 generates the
    dataset while the other ranks wait at a barrier; then every rank checks
    the parameters (see :func:`check_synthvoc`).
    """
    if generate and get_rank() == 0 and not osp.isfile(
            osp.join(data_root, META_FILE)):
        try:
            generate_synthvoc(data_root, params)
        except FileExistsError:
            if not osp.isfile(osp.join(data_root, META_FILE)):
                raise
    if generate:
        barrier()
    return check_synthvoc(data_root, params)


@DATASETS.register_module()
class SynthVOCDataset(VOCDataset):
    """SynthVOC in VOC layout, generated on first use.

    Args:
        data_root (str): Dataset directory, e.g. ``'data/synthvoc'``.
        ann_file (str): List file, e.g.
            ``'ImageSets/Segmentation/train_aug.txt'``.
        generate (bool): Generate the dataset when ``data_root`` holds no
            ``synthvoc.json``. Whether generated here or not, an existing
            dataset must match ``generator_cfg``. Defaults to True.
        generator_cfg (dict, optional): :class:`SynthVOCParams` fields;
            missing ones take their defaults.
        metainfo (dict, optional): Overrides of the METAINFO derived from
            the generator's classes.
        **kwargs: :class:`VOCDataset` arguments (``data_prefix``,
            ``cls_label_file``, ``pipeline``, ...).
    """
    METAINFO = synthvoc_metainfo(SynthVOCParams().num_classes)

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 generate: bool = True,
                 generator_cfg: Optional[dict] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        self.generator_params = SynthVOCParams.from_cfg(generator_cfg)
        prepare_synthvoc(data_root, self.generator_params, generate)
        metainfo = {
            **synthvoc_metainfo(self.generator_params.num_classes),
            **(metainfo or {})
        }
        super().__init__(
            data_root=data_root, ann_file=ann_file, metainfo=metainfo,
            **kwargs)
