"""Geometric and photometric augmentations.

Every geometric transform moves the image and all ``results['seg_fields']``
(``gt_seg_map``, ``conf_mask``, ``valid_mask``) together; label maps and
masks are always resized with nearest-neighbour interpolation. Randomness
comes from numpy's global generator, which mmengine seeds.
"""
import math
from abc import abstractmethod
from collections.abc import Sequence

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from wsstool.registry import TRANSFORMS


def _resize_nearest(arr: np.ndarray, size: tuple[int, int],
                    backend: str) -> np.ndarray:
    """Nearest-neighbour resize of a (H, W) label map or bool mask to
    ``size`` = (w, h)."""
    if arr.dtype == bool:
        return _resize_nearest(arr.view(np.uint8), size, backend).view(bool)
    return mmcv.imresize(arr, size, interpolation='nearest', backend=backend)


class _BaseResize(BaseTransform):
    """Resize the image (``interpolation``) and its seg fields (nearest) to
    the size given by :meth:`_target_size`.

    Updated keys: ``img``, seg fields, ``img_shape`` (h, w) and
    ``scale_factor`` (w_scale, h_scale), multiplied into an existing one.

    Args:
        interpolation (str): Image interpolation ('nearest', 'bilinear',
            'bicubic', ...).
        backend (str): ``'cv2'`` or ``'pillow'`` (PIL's filters, as used by
            the reference WSSS code). Defaults to 'cv2'.
    """

    def __init__(self, interpolation: str, backend: str = 'cv2') -> None:
        self.interpolation = interpolation
        self.backend = backend

    @abstractmethod
    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        """Output (h, w) for an (h, w) input."""

    @staticmethod
    def _scaled(h: int, w: int, scale: float) -> tuple[int, int]:
        return max(1, round(h * scale)), max(1, round(w * scale))

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        new_h, new_w = self._target_size(h, w)
        results['img'] = mmcv.imresize(
            results['img'], (new_w, new_h),
            interpolation=self.interpolation,
            backend=self.backend)
        for key in results.get('seg_fields', []):
            results[key] = _resize_nearest(results[key], (new_w, new_h),
                                           self.backend)
        results['img_shape'] = (new_h, new_w)
        w_scale, h_scale = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (w_scale * new_w / w, h_scale * new_h / h)
        return results


@TRANSFORMS.register_module()
class Resize(_BaseResize):
    """Resize to a fixed size.

    Args:
        scale (tuple[int, int]): (w, h) target size, or with ``keep_ratio``
            the (long edge, short edge) bounds the image must fit in.
        keep_ratio (bool): Keep the aspect ratio. Defaults to False.
        interpolation (str): Image interpolation. Defaults to 'bilinear'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    def __init__(self,
                 scale: tuple[int, int],
                 keep_ratio: bool = False,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        super().__init__(interpolation, backend)
        self.scale = tuple(scale)
        self.keep_ratio = keep_ratio

    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        if not self.keep_ratio:
            return self.scale[1], self.scale[0]
        factor = min(
            max(self.scale) / max(h, w),
            min(self.scale) / min(h, w))
        return self._scaled(h, w, factor)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, keep_ratio='
                f'{self.keep_ratio}, interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class RandomLongSideResize(_BaseResize):
    """Resize so that the long side is a random integer in ``scale_range``
    (inclusive), keeping the aspect ratio (IRN's ``random_resize_long``).

    Args:
        scale_range (tuple[int, int]): (min, max) long side.
            Defaults to (320, 640).
        interpolation (str): Image interpolation. Defaults to 'bicubic'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    def __init__(self,
                 scale_range: tuple[int, int] = (320, 640),
                 interpolation: str = 'bicubic',
                 backend: str = 'cv2') -> None:
        super().__init__(interpolation, backend)
        self.scale_range = tuple(scale_range)

    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        long_side = np.random.randint(self.scale_range[0],
                                      self.scale_range[1] + 1)
        return self._scaled(h, w, long_side / max(h, w))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_range={self.scale_range}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class RandomRescale(_BaseResize):
    """Rescale by a factor drawn uniformly from ``ratio_range``.

    Args:
        ratio_range (tuple[float, float]): (min, max) scale factor.
            Defaults to (0.5, 2.0).
        interpolation (str): Image interpolation. Defaults to 'bicubic'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    def __init__(self,
                 ratio_range: tuple[float, float] = (0.5, 2.0),
                 interpolation: str = 'bicubic',
                 backend: str = 'cv2') -> None:
        super().__init__(interpolation, backend)
        self.ratio_range = tuple(ratio_range)

    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        return self._scaled(h, w, np.random.uniform(*self.ratio_range))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratio_range={self.ratio_range}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random region chosen by area and aspect ratio and resize it to
    ``size`` (the sampling of torchvision's ``RandomResizedCrop``).

    The crop covers a fraction of the image area drawn uniformly from
    ``scale`` and has an aspect ratio (w / h) drawn log-uniformly from
    ``ratio``. Up to 10 draws are made until a crop fits in the image; if
    none does, the largest central crop whose aspect ratio lies in ``ratio``
    is taken. The image is resized with ``interpolation``, every
    seg field with nearest neighbour; nothing is padded.

    BECO's ``RandomResizedCropMask(512, scale=[0.5, 0.75, 1, 1.5, 1.75,
    2.0])`` hands that list to this sampling, which reads only its first two
    values: an area range [0.5, 0.75], not scale factors.
    ``RandomResizedCrop(512)`` reproduces it (``backend='pillow'`` also
    reproduces its PIL resampling). To resize by a random scale factor, use
    :class:`RandomRescale` followed by :class:`RandomCropWithPad`.

    Updated keys: ``img``, seg fields, ``img_shape`` (= ``size``) and
    ``scale_factor`` (w_scale, h_scale), multiplied into an existing one.

    Args:
        size (int | tuple[int, int]): (h, w) output size.
        scale (tuple[float, float]): (min, max) crop area as a fraction of
            the image area. Defaults to (0.5, 0.75).
        ratio (tuple[float, float]): (min, max) aspect ratio w / h of the
            crop. Defaults to (3 / 4, 4 / 3).
        interpolation (str): Image interpolation. Defaults to 'bilinear'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    MAX_ATTEMPTS = 10

    def __init__(self,
                 size: int | tuple[int, int],
                 scale: tuple[float, float] = (0.5, 0.75),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if isinstance(size, int):
            size = (size, size)
        self.size = tuple(size)
        self.scale = self._ordered_pair('scale', scale)
        self.ratio = self._ordered_pair('ratio', ratio)
        self.interpolation = interpolation
        self.backend = backend

    @staticmethod
    def _ordered_pair(name: str, value) -> tuple[float, float]:
        if len(value) != 2 or not 0 < value[0] <= value[1]:
            raise ValueError(f'RandomResizedCrop {name} must be a (min, max) '
                             f'pair with 0 < min <= max, got {value}')
        return float(value[0]), float(value[1])

    def sample_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Draw a crop (top, left, crop_h, crop_w) of an (h, w) image."""
        log_ratio = np.log(self.ratio)
        for _ in range(self.MAX_ATTEMPTS):
            area = h * w * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            crop_w = round(math.sqrt(area * aspect))
            crop_h = round(math.sqrt(area / aspect))
            if 0 < crop_w <= w and 0 < crop_h <= h:
                top = np.random.randint(h - crop_h + 1)
                left = np.random.randint(w - crop_w + 1)
                return top, left, crop_h, crop_w
        return self._central_box(h, w)

    def _central_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """The largest central crop with an aspect ratio within ``ratio``."""
        crop_h, crop_w = h, w
        if w / h < self.ratio[0]:
            crop_h = round(w / self.ratio[0])
        elif w / h > self.ratio[1]:
            crop_w = round(h * self.ratio[1])
        return (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        top, left, crop_h, crop_w = self.sample_box(h, w)
        out_h, out_w = self.size
        crop = (slice(top, top + crop_h), slice(left, left + crop_w))
        results['img'] = mmcv.imresize(
            np.ascontiguousarray(results['img'][crop]), (out_w, out_h),
            interpolation=self.interpolation,
            backend=self.backend)
        for key in results.get('seg_fields', []):
            results[key] = _resize_nearest(
                np.ascontiguousarray(results[key][crop]), (out_w, out_h),
                self.backend)
        results['img_shape'] = self.size
        w_scale, h_scale = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (w_scale * out_w / crop_w,
                                   h_scale * out_h / crop_h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, '
                f'ratio={self.ratio}, interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip the image and all seg fields with probability ``prob``.

    Added keys: ``flip`` (bool) and ``flip_direction`` (None when not
    flipped).

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'``.
            Defaults to 'horizontal'.
    """

    def __init__(self, prob: float = 0.5,
                 direction: str = 'horizontal') -> None:
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'direction must be "horizontal" or "vertical", '
                             f'got {direction!r}')
        self.prob = prob
        self.direction = direction

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        if flip:
            axis = 1 if self.direction == 'horizontal' else 0
            for key in ['img', *results.get('seg_fields', [])]:
                results[key] = np.ascontiguousarray(
                    np.flip(results[key], axis))
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'direction={self.direction!r})')


@TRANSFORMS.register_module()
class RandomCropWithPad(BaseTransform):
    """Random crop of a fixed size; a side shorter than the crop is placed at
    a random offset in a padded canvas (IRN's ``random_crop``).

    Adds ``valid_mask`` (bool (h, w), False on padding) to the seg fields
    (an existing one is cropped and padded with False).

    Args:
        crop_size (int | tuple[int, int]): (h, w) output size.
        img_pad_val (float | Sequence[float]): Image padding per channel,
            rounded to uint8. Defaults to the BGR ImageNet mean
            (103.53, 116.28, 123.675), which is (almost) 0 after
            normalisation.
        seg_pad_val (int): Padding of uint8 label maps; bool masks are padded
            with False. Defaults to 255 (ignore).
    """

    def __init__(self,
                 crop_size: int | tuple[int, int],
                 img_pad_val: float | Sequence[float] = (103.53, 116.28,
                                                         123.675),
                 seg_pad_val: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        self.crop_size = tuple(crop_size)
        self.img_pad_val = img_pad_val
        self.seg_pad_val = seg_pad_val

    @staticmethod
    def _offsets(size: int, crop: int) -> tuple[int, int]:
        """Random (source, destination) offsets along one axis."""
        if size >= crop:
            return np.random.randint(size - crop + 1), 0
        return 0, np.random.randint(crop - size + 1)

    def _crop(self, arr: np.ndarray, pad_val, src: tuple[int, int],
              dst: tuple[int, int]) -> np.ndarray:
        ch, cw = self.crop_size
        h, w = min(arr.shape[0], ch), min(arr.shape[1], cw)
        out = np.empty((ch, cw) + arr.shape[2:], dtype=arr.dtype)
        out[...] = pad_val
        out[dst[0]:dst[0] + h, dst[1]:dst[1] + w] = \
            arr[src[0]:src[0] + h, src[1]:src[1] + w]
        return out

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        seg_fields = results.setdefault('seg_fields', [])
        if 'valid_mask' not in seg_fields:
            results['valid_mask'] = np.ones((h, w), dtype=bool)
            seg_fields.append('valid_mask')
        (src_y, dst_y), (src_x, dst_x) = (self._offsets(h, self.crop_size[0]),
                                          self._offsets(w, self.crop_size[1]))
        src, dst = (src_y, src_x), (dst_y, dst_x)
        img_pad = np.round(np.asarray(self.img_pad_val, dtype=np.float64))
        results['img'] = self._crop(img, img_pad.astype(img.dtype), src, dst)
        for key in seg_fields:
            arr = results[key]
            pad = False if arr.dtype == bool else self.seg_pad_val
            results[key] = self._crop(arr, pad, src, dst)
        results['img_shape'] = self.crop_size
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'img_pad_val={self.img_pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')


@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """Colour jitter in the style of torchvision's ``ColorJitter``: random
    brightness, contrast, saturation and hue changes applied in a random
    order, each clipped to [0, 255].

    Each argument is either a float ``v`` (factor drawn from
    [max(0, 1 - v), 1 + v], or [-v, v] for hue) or a (min, max) range;
    0 disables the change. PSA uses (0.3, 0.3, 0.3, 0.1).

    Args:
        brightness (float | tuple): Multiplies the image. Defaults to 0.3.
        contrast (float | tuple): Blends with the mean grey level.
            Defaults to 0.3.
        saturation (float | tuple): Blends with the grey image.
            Defaults to 0.3.
        hue (float | tuple): Shift of the hue, in turns, within [-0.5, 0.5].
            Defaults to 0.1.
    """

    def __init__(self,
                 brightness: float | tuple[float, float] = 0.3,
                 contrast: float | tuple[float, float] = 0.3,
                 saturation: float | tuple[float, float] = 0.3,
                 hue: float | tuple[float, float] = 0.1) -> None:
        self.ranges = dict(
            brightness=self._range('brightness', brightness, 1.0),
            contrast=self._range('contrast', contrast, 1.0),
            saturation=self._range('saturation', saturation, 1.0),
            hue=self._range('hue', hue, 0.0))
        hue_range = self.ranges['hue']
        if hue_range and not -0.5 <= hue_range[0] <= hue_range[1] <= 0.5:
            raise ValueError(f'hue range must lie in [-0.5, 0.5], got {hue}')

    @staticmethod
    def _range(name: str, value, center: float) -> tuple | None:
        if isinstance(value, (int, float)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {value}')
            if value == 0:
                return None
            low = center - value if center == 0 else max(0., center - value)
            return (low, center + value)
        low, high = value
        if low > high:
            raise ValueError(f'{name} range must be (min, max), got {value}')
        return (float(low), float(high))

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        names = list(self.ranges)
        for index in np.random.permutation(len(names)):
            value_range = self.ranges[names[index]]
            if value_range is None:
                continue
            factor = np.random.uniform(*value_range)
            img = getattr(self, f'_adjust_{names[index]}')(img, factor)
        results['img'] = np.round(img).astype(np.uint8)
        return results

    @staticmethod
    def _grey(img: np.ndarray) -> np.ndarray:
        """ITU-R 601 luma of a BGR image, (H, W, 1)."""
        return img @ np.array([[0.114], [0.587], [0.299]], dtype=np.float32)

    @staticmethod
    def _blend(img: np.ndarray, other, factor: float) -> np.ndarray:
        return np.clip(other + factor * (img - other), 0, 255)

    def _adjust_brightness(self, img: np.ndarray, factor: float) -> np.ndarray:
        return self._blend(img, 0., factor)

    def _adjust_contrast(self, img: np.ndarray, factor: float) -> np.ndarray:
        return self._blend(img, self._grey(img).mean(), factor)

    def _adjust_saturation(self, img: np.ndarray,
                           factor: float) -> np.ndarray:
        return self._blend(img, self._grey(img), factor)

    @staticmethod
    def _adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
        hsv = cv2.cvtColor(img / 255, cv2.COLOR_BGR2HSV)  # hue in degrees
        hsv[..., 0] = (hsv[..., 0] + factor * 360) % 360
        return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255, 0, 255)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.ranges})'
