"""CAM normalisations, multi-scale + flip CAM aggregation and the
top-class map of SEAM.

The three normalisations are not interchangeable: a seed mIoU is only
comparable under the normalisation its authors used.

* ``'max'``: ``x / (max x + 1e-5)``, no min subtraction (IRN, PSA, AEFT, KTSE).
* ``'minmax_train'``: ``r = relu(x)``;
  ``relu(r - min r - 1e-5) / (max r - min r + 1e-5)`` (SEAM/PPC/KTSE training).
* ``'minmax_infer'``: ``x = max(x, 0)``; values below ``min x + 1e-5`` are set
  to 0; then ``(x - min - 1e-5) / (max - min + 1e-5)`` with ``min``/``max``
  taken before the zeroing (SEAM/PPC inference). Zeroed pixels therefore
  become slightly negative, exactly as in those references.

min/max are taken per channel over the two spatial dimensions.
"""
import math
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

CAM_NORMS = ('max', 'minmax_train', 'minmax_infer')
EPS = 1e-5


def _spatial_max(x: Tensor) -> Tensor:
    return x.amax(dim=(-2, -1), keepdim=True)


def _spatial_min(x: Tensor) -> Tensor:
    return x.amin(dim=(-2, -1), keepdim=True)


def normalize_cam(cam: Tensor, norm: str) -> Tensor:
    """Normalise CAMs per channel over the spatial dims.

    Args:
        cam (Tensor): (..., H, W) class activation maps.
        norm (str): One of ``'max'``, ``'minmax_train'``, ``'minmax_infer'``
            (see the module docstring).

    Returns:
        Tensor: (..., H, W) normalised maps, same dtype.
    """
    if norm == 'max':
        return cam / (_spatial_max(cam) + EPS)
    if norm == 'minmax_train':
        cam = F.relu(cam)
        low, high = _spatial_min(cam), _spatial_max(cam)
        return F.relu(cam - low - EPS) / (high - low + EPS)
    if norm == 'minmax_infer':
        cam = cam.clamp(min=0)
        low, high = _spatial_min(cam), _spatial_max(cam)
        cam = cam.masked_fill(cam < low + EPS, 0)
        return (cam - low - EPS) / (high - low + EPS)
    raise ValueError(f'Unknown CAM normalisation {norm!r}; expected one of '
                     f'{CAM_NORMS}.')


def top_class_map(fg: Tensor) -> Tensor:
    """Background ``1 - max`` of the foreground maps, and at each pixel only
    the largest foreground channel (the others set to 0; ties keep every
    tied channel): SEAM's PCM seed and L_ecr target.

    Args:
        fg (Tensor): (B, C, h, w) foreground maps.

    Returns:
        Tensor: (B, 1 + C, h, w), background at channel 0.
    """
    fg_max = fg.amax(dim=1, keepdim=True)
    return torch.cat([1 - fg_max, fg.masked_fill(fg < fg_max, 0)], dim=1)


def scaled_size(size: Sequence[int], scale: float) -> Tuple[int, int]:
    """(h, w) of an image of ``size`` rescaled by ``scale``: each side
    ``round(side * scale)`` (Python's rounding, halves to even), at least
    1."""
    return (max(1, int(round(size[0] * scale))),
            max(1, int(round(size[1] * scale))))


CAM_RELU_MODES = ('before_upsample', 'after_upsample')
RESIZE_MODES = ('bilinear', 'bicubic')


def rescale_images(images: Tensor, size: Sequence[int], mode: str) -> Tensor:
    """Resize a (N, 3, h, w) batch to ``size`` (h', w').

    ``'bilinear'``: ``align_corners=False``. ``'bicubic'``: antialiased
    bicubic, whose kernel (a = -0.5, widened when downscaling) follows PIL's
    ``Image.BICUBIC`` that IRN/PSA/AEFT/KTSE rescale their test images with;
    the references resize uint8 images, so values still differ by rounding.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f'Unknown resize mode {mode!r}; expected one of '
                         f'{RESIZE_MODES}.')
    return F.interpolate(
        images, size=tuple(size), mode=mode, align_corners=False,
        antialias=mode == 'bicubic')


def multi_scale_flip_cams(
        cam_fn: Callable[[Tensor], Tuple[Tensor, Tensor]],
        inputs: Tensor,
        scales: Sequence[float] = (1.0, ),
        flip: bool = False,
        upsample_stride: Optional[int] = None,
        cam_relu: str = 'before_upsample',
        resize_mode: str = 'bilinear') -> Tuple[Tensor, Tensor]:
    """Sum CAMs of a batch over rescaled and horizontally flipped copies.

    For each scale the batch is resized (:func:`rescale_images` with
    ``resize_mode``); with ``flip`` the batch and its h-flip run as one batch
    of 2B images. Each class map is rectified (``cam_relu``), un-flipped,
    bilinearly upsampled to the input size and summed over scales and flips.
    Logits are averaged over the same passes. With ``upsample_stride`` s,
    each CAM is upsampled to the input size rounded up to a multiple of s and
    then cropped to the input size (IRN's ``make_cam`` with s = 16), which
    aligns the CAM grid with the network's stride instead of stretching it
    over the image.

    Args:
        cam_fn (Callable): Maps images (N, 3, h, w) to ``(maps, logits)``
            with raw class maps (N, C, h', w') and logits (N, C).
        inputs (Tensor): (B, 3, H, W) normalised images.
        scales (Sequence[float]): Rescaling factors.
        flip (bool): Also run the h-flipped images.
        upsample_stride (int, optional): See above; None upsamples straight
            to the input size.
        cam_relu (str): ``'before_upsample'`` (IRN, PSA: relu(conv) on the
            feature grid) or ``'after_upsample'`` (AEFT, KTSE: the raw map is
            upsampled, then rectified).
        resize_mode (str): ``'bilinear'`` or ``'bicubic'``.

    Returns:
        tuple[Tensor, Tensor]: cams (B, C, H, W) summed over
        ``len(scales) * (1 + flip)`` passes and logits (B, C) averaged over
        them.
    """
    if cam_relu not in CAM_RELU_MODES:
        raise ValueError(f'Unknown cam_relu {cam_relu!r}; expected one of '
                         f'{CAM_RELU_MODES}.')
    batch_size, size = inputs.shape[0], inputs.shape[-2:]
    up_size = tuple(size) if upsample_stride is None else tuple(
        math.ceil(length / upsample_stride) * upsample_stride
        for length in size)
    cam_sum, logit_sum = None, None
    for scale in scales:
        images = inputs
        if scale != 1.0:
            images = rescale_images(inputs, scaled_size(size, scale),
                                    resize_mode)
        if flip:
            images = torch.cat([images, images.flip(-1)])
        cams, logits = cam_fn(images)
        if cam_relu == 'before_upsample':
            cams = F.relu(cams)
        cams = F.interpolate(
            cams, size=up_size, mode='bilinear',
            align_corners=False)[..., :size[0], :size[1]]
        if cam_relu == 'after_upsample':
            cams = F.relu(cams)
        if flip:
            cams = cams[:batch_size] + cams[batch_size:].flip(-1)
            logits = logits[:batch_size] + logits[batch_size:]
        cam_sum = cams if cam_sum is None else cam_sum + cams
        logit_sum = logits if logit_sum is None else logit_sum + logits
    return cam_sum, logit_sum / (len(scales) * (1 + int(flip)))


def cam_to_original(cam: Tensor, metainfo: dict) -> Tensor:
    """Map a CAM on the padded batch grid back to the original image.

    Crops the batch padding to ``img_shape``, undoes a pipeline flip
    (``flip``/``flip_direction`` 'horizontal' or 'vertical') and resizes
    bilinearly (``align_corners=False``) to ``ori_shape`` when they differ.

    Args:
        cam (Tensor): (K, H_pad, W_pad) maps of one image.
        metainfo (dict): The sample's meta information with ``img_shape``
            and ``ori_shape``.

    Returns:
        Tensor: (K, *ori_shape) maps.
    """
    img_h, img_w = metainfo['img_shape'][:2]
    cam = cam[:, :img_h, :img_w]
    if metainfo.get('flip', False):
        direction = metainfo.get('flip_direction', 'horizontal')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'Cannot undo flip_direction {direction!r} '
                             "(expected 'horizontal' or 'vertical').")
        cam = cam.flip(-1 if direction == 'horizontal' else -2)
    ori_shape = tuple(metainfo['ori_shape'][:2])
    if tuple(cam.shape[-2:]) != ori_shape:
        # classes as the batch dim: interpolate accepts an empty batch
        cam = F.interpolate(
            cam[:, None], size=ori_shape, mode='bilinear',
            align_corners=False)[:, 0]
    return cam
