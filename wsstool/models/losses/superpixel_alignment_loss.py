"""SSC's superpixel alignment loss: CAMs pulled towards their superpixel
means and their own confident interior."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.models.utils.cam_ops import normalize_cam
from wsstool.models.utils.cfg_defaults import is_number
from wsstool.models.utils.superpixel_ops import (downsample_ids,
                                                 superpixel_mean)
from wsstool.registry import MODELS


def binary_erode(mask: Tensor, size: int) -> Tensor:
    """Erosion of binary maps by a ``size`` x ``size`` square, as
    ``cv2.erode`` with its default anchor and border.

    A pixel stays True when every pixel of the window rows
    [i - size // 2, i + size - 1 - size // 2] (columns likewise) is True;
    pixels outside the map count as True (the image border erodes nothing).

    Args:
        mask (Tensor): (N, H, W) bool maps.
        size (int): Side of the square structuring element.

    Returns:
        Tensor: (N, H, W) bool eroded maps.
    """
    before = size // 2
    after = size - 1 - before
    holes = F.pad((~mask).float()[:, None], (before, after, before, after))
    return F.max_pool2d(holes, size, stride=1)[:, 0] == 0


@MODELS.register_module()
class SuperpixelAlignmentLoss(nn.Module):
    """Superpixel alignment loss of SSC (Spatial Structure Constraints).

    On the superpixel grid (the ids downsampled by ``size_ratio``, nearest;
    the CAMs upsampled to it, bilinear), for every class c present in the
    image (label y_c > 0):

    1. P = up(cam_c) * y_c; P_bar = superpixel-wise mean of P (each pixel
       gets its superpixel's mean);
    2. P_hat = relu(P) / (max relu(P) + 1e-5) (``normalize_cam(.,
       'max')``), P_bar_hat likewise;
    3. R = erode_{k x k}(P_hat > ``reliable_thr``) (``cv2.erode`` anchor and
       border), o = P_hat * R;
    4. target = stop_gradient(max(P_bar_hat, o));
    5. loss = ``loss_weight`` * mean of (P_hat - target)^2 over the present
       (image, class) maps and their pixels (SSC's ``MSELoss`` over the
       present classes; absent classes do not count).

    Invalid pixels (superpixel id -1, the crop padding of
    :func:`wsstool.models.utils.superpixel_ops.stack_superpixels`) belong
    to no superpixel and are excluded from the maxima, the loss and its
    mean; in the erosion they act like the image border (they erode
    nothing). With ``ignore_invalid=False`` (the reference's behaviour)
    the invalid pixels of an image form one extra superpixel and count
    like image pixels everywhere, as SSC's padding id 0 does.

    The reference permutes the superpixel ids of every sample at random;
    the loss does not depend on the numbering, so it is not reproduced.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        size_ratio (float): Size of the superpixel grid relative to the
            superpixel map (0.5: 512 -> 256, SSC). Defaults to 0.5.
        reliable_thr (float): Threshold of the reliable region on P_hat, in
            [0, 1). Defaults to 0.3.
        erode_size (int): Side k of the square erosion kernel. Defaults to
            16, the kernel of the released SSC ``step/train_cam.py`` (the
            written description of SSC says 8 x 8).
        ignore_invalid (bool): Exclude pixels of id -1 (True) or treat them
            as one superpixel per image that counts in the loss (False,
            SSC's handling of the crop padding). Defaults to True.
        loss_name (str): Key of the loss in the loss dict; must start with
            'loss'. Defaults to 'loss_align'.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 size_ratio: float = 0.5,
                 reliable_thr: float = 0.3,
                 erode_size: int = 16,
                 ignore_invalid: bool = True,
                 loss_name: str = 'loss_align') -> None:
        super().__init__()
        name = type(self).__name__
        if not (is_number(size_ratio) and 0 < size_ratio <= 1):
            raise ValueError(f'{name}: size_ratio must be a number in '
                             f'(0, 1], got {size_ratio!r}.')
        if not (is_number(reliable_thr) and 0 <= reliable_thr < 1):
            raise ValueError(f'{name}: reliable_thr must be a number in '
                             f'[0, 1) (P_hat lies in [0, 1)), got '
                             f'{reliable_thr!r}.')
        if not (isinstance(erode_size, int)
                and not isinstance(erode_size, bool) and erode_size >= 1):
            raise ValueError(f'{name}: erode_size must be a positive int, '
                             f'got {erode_size!r}.')
        if not isinstance(ignore_invalid, bool):
            raise ValueError(f'{name}: ignore_invalid must be True or False, '
                             f'got {ignore_invalid!r}.')
        if not loss_name.startswith('loss'):
            raise ValueError(
                f"{name}: loss_name must start with 'loss' "
                f'to count in the total loss, got {loss_name!r}.')
        self.loss_weight = loss_weight
        self.size_ratio = size_ratio
        self.reliable_thr = reliable_thr
        self.erode_size = erode_size
        self.ignore_invalid = ignore_invalid
        self.loss_name = loss_name

    def forward(self, cam: Tensor, labels: Tensor,
                superpixels: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            cam (Tensor): (B, C, h, w) raw class maps (no ReLU, no
                normalisation).
            labels (Tensor): (B, C) multi-hot image labels.
            superpixels (Tensor): (B, H, W) int64 superpixel ids at the
                input resolution, -1 on invalid pixels.

        Returns:
            Tensor: scalar loss (0, still attached to ``cam``, when no
            class is present).
        """
        if cam.dim() != 4 or labels.shape != cam.shape[:2] \
                or superpixels.dim() != 3 \
                or superpixels.shape[0] != cam.shape[0]:
            raise ValueError(
                f'{type(self).__name__}: expected cam (B, C, h, w), labels '
                f'(B, C) and superpixels (B, H, W); got '
                f'{tuple(cam.shape)}, {tuple(labels.shape)} and '
                f'{tuple(superpixels.shape)}.')
        height, width = superpixels.shape[1:]
        size = (max(1, int(height * self.size_ratio)),
                max(1, int(width * self.size_ratio)))
        ids = downsample_ids(superpixels, size)
        if not self.ignore_invalid:
            ids = ids.where(ids >= 0, ids.max() + 1)
        image_idx, class_idx = torch.nonzero(labels > 0, as_tuple=True)
        if image_idx.numel() == 0:
            return cam.sum() * 0.
        weights = labels[image_idx, class_idx].float()[:, None, None, None]
        scores = F.interpolate(
            cam[image_idx, class_idx][:, None].float(),
            size,
            mode='bilinear',
            align_corners=False) * weights
        ids = ids[image_idx]
        valid = (ids >= 0)[:, None]
        norm = normalize_cam(F.relu(scores) * valid, 'max')
        with torch.no_grad():
            pooled = normalize_cam(
                F.relu(superpixel_mean(scores, ids)), 'max')
            reliable = binary_erode((norm > self.reliable_thr)[:, 0]
                                    | ~valid[:, 0], self.erode_size)
            target = torch.maximum(pooled, norm * reliable[:, None])
        squared = (norm - target).square() * valid
        return self.loss_weight * squared.sum() / valid.sum().clamp(min=1)
