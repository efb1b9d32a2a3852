"""Per-sample photometric augmentation of a whole batch on its device."""
from typing import Callable, Sequence

import cv2
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS

# ITU-R BT.601 luma weights of R, G, B (OpenCV's RGB -> gray).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# BECO's effective weights: its ToGray runs on channel-swapped (BGR) data.
BECO_GRAY_WEIGHTS = (0.114, 0.587, 0.299)


def rgb_to_hsv(images: Tensor) -> Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> hue (turns, [0, 1)), saturation and
    value in [0, 1]."""
    red, green, blue = images.unbind(dim=1)
    value, _ = images.max(dim=1)
    chroma = value - images.min(dim=1)[0]
    safe_chroma = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(
        value == red, (green - blue) / safe_chroma,
        torch.where(value == green, 2 + (blue - red) / safe_chroma,
                    4 + (red - green) / safe_chroma))
    hue = torch.where(chroma > 0, (hue / 6) % 1, torch.zeros_like(hue))
    saturation = torch.where(value > 0, chroma / torch.where(
        value > 0, value, torch.ones_like(value)), torch.zeros_like(value))
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_hsv`: (B, 3, H, W) HSV -> RGB in [0, 1]."""
    hue, saturation, value = hsv.unbind(dim=1)
    channels = []
    for offset in (5, 3, 1):  # R, G, B
        sector = (offset + hue * 6) % 6
        ramp = torch.minimum(sector, 4 - sector).clamp(0, 1)
        channels.append(value - value * saturation * ramp)
    return torch.stack(channels, dim=1)


def _per_sample(values: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, 1) for broadcasting over (B, C, H, W)."""
    return values.view(-1, 1, 1, 1)


def adjust_brightness_contrast(images: Tensor, contrast: Tensor,
                               brightness: Tensor) -> Tensor:
    """albumentations' brightness/contrast with ``brightness_by_max``:
    ``clip(x * contrast + 255 * brightness, 0, 255)``.

    Args:
        images (Tensor): (B, 3, H, W) float images in [0, 255].
        contrast (Tensor): (B,) contrast factors (1: unchanged).
        brightness (Tensor): (B,) brightness shifts, fractions of 255.
    """
    return (images * _per_sample(contrast) +
            255 * _per_sample(brightness)).clamp(0, 255)


def shift_hsv(images: Tensor, hue_shift: Tensor, sat_shift: Tensor,
              val_shift: Tensor) -> Tensor:
    """Shift hue (cyclically), saturation and value (clipped).

    Args:
        images (Tensor): (B, 3, H, W) float RGB images in [0, 255].
        hue_shift (Tensor): (B,) hue shifts in OpenCV 8-bit units (180 per
            turn).
        sat_shift (Tensor): (B,) saturation shifts on a 0-255 scale.
        val_shift (Tensor): (B,) value shifts on a 0-255 scale.

    Returns:
        Tensor: (B, 3, H, W) RGB images in [0, 255].
    """
    hue, saturation, value = rgb_to_hsv(images / 255).unbind(dim=1)
    hue = (hue + hue_shift.view(-1, 1, 1) / 180) % 1
    saturation = (saturation * 255 + sat_shift.view(-1, 1, 1)).clamp(0, 255)
    value = (value * 255 + val_shift.view(-1, 1, 1)).clamp(0, 255)
    hsv = torch.stack([hue, saturation / 255, value / 255], dim=1)
    return hsv_to_rgb(hsv) * 255


def to_gray(images: Tensor,
            weights: Sequence[float] = GRAY_WEIGHTS) -> Tensor:
    """(B, 3, H, W) RGB -> the weighted sum of R, G, B (default: BT.601
    luma) in all three channels."""
    weights = images.new_tensor(weights).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True).expand_as(images)


def opencv_gaussian_kernels(max_kernel_size: int) -> Tensor:
    """OpenCV's 1-D Gaussian kernels for sigma 0 (``cv2.GaussianBlur(img,
    (k, k), 0)``) of the odd sizes ``k = 3, 5, ..., max_kernel_size``.

    Returns:
        Tensor: (N, max_kernel_size) float32, row ``n`` the kernel of size
        ``2 n + 3`` centred, zeros outside.
    """
    rows = []
    for size in range(3, max_kernel_size + 1, 2):
        kernel = torch.from_numpy(cv2.getGaussianKernel(size, 0)).flatten()
        pad = (max_kernel_size - size) // 2
        rows.append(F.pad(kernel.float(), (pad, pad)))
    return torch.stack(rows)


def gaussian_blur(images: Tensor, kernels: Tensor) -> Tensor:
    """Blur each image with its own separable kernel, borders reflected
    without repeating the edge pixel (OpenCV's default).

    Args:
        images (Tensor): (B, C, H, W) float images.
        kernels (Tensor): (B, k) 1-D kernels, k odd.

    Returns:
        Tensor: (B, C, H, W) blurred images.
    """
    batch, channels, height, width = images.shape
    kernels = kernels.repeat_interleave(channels, dim=0)
    pad = kernels.shape[1] // 2
    planes = images.reshape(1, batch * channels, height, width)
    planes = F.pad(planes, (pad, pad, pad, pad), mode='reflect')
    planes = F.conv2d(planes, kernels[:, None, None, :],
                      groups=batch * channels)
    planes = F.conv2d(planes, kernels[:, None, :, None],
                      groups=batch * channels)
    return planes.view_as(images)


@MODELS.register_module()
class BatchPhotometricAug(nn.Module):
    """BECO's photometric augmentation, per sample, on the batch's device.

    The albumentations pipeline ``Compose([Compose([RandomBrightnessContrast
    (p=1), HueSaturationValue(p=1)], p=0.8), ToGray(p=0.2), GaussianBlur(5,
    p=0.5)])`` with albumentations' default ranges, on float RGB images in
    [0, 255] (without albumentations' intermediate uint8 rounding):

    1. With probability ``color_prob``, both of:

       * brightness/contrast: ``x * (1 + c) + 255 * b`` with ``c ~
         U(-contrast_limit, contrast_limit)`` and ``b ~ U(-brightness_limit,
         brightness_limit)`` (defaults 0.2, 0.2; ``brightness_by_max``),
         clipped to [0, 255];
       * HSV shift: hue by ``U(-hue_shift_limit, hue_shift_limit)`` in
         OpenCV 8-bit hue units (180 per turn; default 20, i.e. up to 40
         degrees), saturation and value by ``U(-sat_shift_limit,
         sat_shift_limit)`` and ``U(-val_shift_limit, val_shift_limit)`` on
         their 0-255 scales (defaults 30, 20), clipped.

    2. With probability ``gray_prob`` (0.2): gray ``gray_weights`` . (R, G,
       B) in all three channels (BT.601 ``0.299 R + 0.587 G + 0.114 B`` by
       default; BECO hands albumentations channel-swapped images, so its
       gray is ``0.114 R + 0.587 G + 0.299 B``: ``BECO_GRAY_WEIGHTS``, a
       faithfulness option; its hue shift is mirrored too, which the
       symmetric range absorbs).
    3. With probability ``blur_prob`` (0.5): Gaussian blur with a kernel
       size drawn as albumentations does for ``GaussianBlur(blur_limit)``:
       uniform in ``3 .. blur_limit`` with even sizes rounded up (for 5:
       size 3 with probability 1/3, 5 with 2/3), sigma 0 (OpenCV's kernel
       of that size: [1, 2, 1] / 4 and [1, 4, 6, 4, 1] / 16 for 3 and 5),
       reflected borders.

    Random numbers come from torch's global generator on the images'
    device. The computation runs in float32 outside autocast.

    Args:
        color_prob (float): Probability of step 1.
        brightness_limit (float): Brightness shift range, fraction of 255.
        contrast_limit (float): Contrast factor range around 1.
        hue_shift_limit (float): Hue shift range, OpenCV units (180/turn).
        sat_shift_limit (float): Saturation shift range (0-255 scale).
        val_shift_limit (float): Value shift range (0-255 scale).
        gray_prob (float): Probability of step 2.
        blur_prob (float): Probability of step 3.
        blur_limit (int): Largest (odd, >= 3) blur kernel size.
        gray_weights (Sequence[float]): Weights of R, G, B in the gray
            image.
    """

    def __init__(self,
                 color_prob: float = 0.8,
                 brightness_limit: float = 0.2,
                 contrast_limit: float = 0.2,
                 hue_shift_limit: float = 20.,
                 sat_shift_limit: float = 30.,
                 val_shift_limit: float = 20.,
                 gray_prob: float = 0.2,
                 blur_prob: float = 0.5,
                 blur_limit: int = 5,
                 gray_weights: Sequence[float] = GRAY_WEIGHTS) -> None:
        super().__init__()
        for name, prob in (('color_prob', color_prob),
                           ('gray_prob', gray_prob),
                           ('blur_prob', blur_prob)):
            if not 0 <= prob <= 1:
                raise ValueError(
                    f'BatchPhotometricAug {name} must be in [0, 1], got '
                    f'{prob}.')
        limits = dict(brightness_limit=brightness_limit,
                      contrast_limit=contrast_limit,
                      hue_shift_limit=hue_shift_limit,
                      sat_shift_limit=sat_shift_limit,
                      val_shift_limit=val_shift_limit)
        for name, limit in limits.items():
            if limit < 0:
                raise ValueError(
                    f'BatchPhotometricAug {name} must be >= 0, got {limit}.')
        if blur_limit < 3 or blur_limit % 2 == 0:
            raise ValueError('BatchPhotometricAug blur_limit must be an odd '
                             f'kernel size >= 3, got {blur_limit}.')
        self.color_prob = color_prob
        self.brightness_limit = brightness_limit
        self.contrast_limit = contrast_limit
        self.hue_shift_limit = hue_shift_limit
        self.sat_shift_limit = sat_shift_limit
        self.val_shift_limit = val_shift_limit
        self.gray_prob = gray_prob
        self.blur_prob = blur_prob
        self.blur_limit = blur_limit
        if len(gray_weights) != 3:
            raise ValueError('BatchPhotometricAug gray_weights needs the 3 '
                             f'weights of R, G, B, got {gray_weights!r}.')
        self.gray_weights = tuple(gray_weights)
        self.register_buffer(
            'blur_kernels', opencv_gaussian_kernels(blur_limit),
            persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        """Augment (B, 3, H, W) RGB images in [0, 255].

        Returns:
            Tensor: (B, 3, H, W) augmented images in [0, 255], of the input
            dtype.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError('BatchPhotometricAug expects (B, 3, H, W) RGB '
                             f'images, got shape {tuple(images.shape)}.')
        with torch.autocast(device_type=images.device.type, enabled=False):
            out = images.float()
            out = self._apply_randomly(out, self.color_prob,
                                       self._adjust_colors)
            out = self._apply_randomly(out, self.gray_prob, self._gray)
            out = self._apply_randomly(out, self.blur_prob, self._blur)
        return out.to(images.dtype)

    @staticmethod
    def _apply_randomly(images: Tensor, prob: float,
                        transform: Callable[[Tensor], Tensor]) -> Tensor:
        """``transform(images)`` on the samples drawn with ``prob``."""
        chosen = torch.rand(len(images), device=images.device) < prob
        return torch.where(_per_sample(chosen), transform(images), images)

    @staticmethod
    def _uniform(images: Tensor, limit: float) -> Tensor:
        """(B,) draws from U(-limit, limit)."""
        draws = torch.rand(len(images), device=images.device)
        return (2 * draws - 1) * limit

    def _adjust_colors(self, images: Tensor) -> Tensor:
        images = adjust_brightness_contrast(
            images, 1 + self._uniform(images, self.contrast_limit),
            self._uniform(images, self.brightness_limit))
        return shift_hsv(images, self._uniform(images, self.hue_shift_limit),
                         self._uniform(images, self.sat_shift_limit),
                         self._uniform(images, self.val_shift_limit))

    def _gray(self, images: Tensor) -> Tensor:
        return to_gray(images, self.gray_weights)

    def _blur(self, images: Tensor) -> Tensor:
        sizes = torch.randint(
            3, self.blur_limit + 1, (len(images), ), device=images.device)
        sizes = sizes + (sizes % 2 == 0)
        kernels = self.blur_kernels.to(images)[(sizes - 3) // 2]
        return gaussian_blur(images, kernels)
