"""Copy-paste eraser with a per-class foreground memory bank (KTSE+ reading).

This is a reading of a later KTSE code variant, not a published method: the
KTSE+ README names the method but no paper text is available. Per training
step, :class:`CopyPasteEraser`

1. erases the batch with a base eraser (hard threshold 0.6 by default);
2. updates the memory bank from the batch: for every single-class image, the
   pseudo-label foreground is reduced to its largest 8-connected component
   and dilated 3x3; if its area ratio lies in ``area_range`` the bounding-box
   crop of the normalised image is stored in the class's FIFO queue;
3. once the bank holds enough classes and items, pastes into the erased
   image of every uncertain image (pseudo-label ratio ``#255 / #fg`` above
   the batch quantile) a bank crop of a class absent from that image. The
   target box is the 8-connected component of the smoothed, thresholded CAM
   that contains the CAM peak, expanded by ``box_margin`` pixels; the bank
   item whose box best matches the target's aspect ratio and area is resized
   bilinearly onto the whole target rectangle.

The bank is updated before pasting, as in the reference variant, so crops
admitted from the current batch can already be pasted into it (never into
their own image, whose class is present there).

The reference also adds ``paste_labels[b, class] = positive_add`` to the
anchor of its global alignment loss. The pasted class is absent from the
image, so the other term of that loss is zero for it and ``paste_labels``
only adds a constant: it is omitted. What was pasted, with the item's
``positive_add``, is kept in :attr:`CopyPasteEraser.last_paste`.

The bank lives in the module's Python attributes, one per process; it is not
part of the state dict and is therefore not saved in checkpoints (after a
resume it refills within a few iterations). Crops are stored on the device of
the images they come from. Random choices use the global torch RNG (seeded by
the runner's ``randomness`` config) unless ``seed`` gives the eraser its own
generator.

In the reading, KTSE+ erases with the plain base eraser in its first erasing
epoch T and uses this eraser (bank filling included) from epoch T + 1; that
schedule belongs to the method's config.
"""
import math
from collections import deque
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from wsstool.registry import ERASERS
from .base import BaseEraser, ErasingInputs

IGNORE_INDEX = 255

# (y0, x0, y1, x1) with exclusive ends
Box = Tuple[int, int, int, int]


class BankItem(NamedTuple):
    """One foreground crop of the memory bank.

    Attributes:
        crop (Tensor): (3, h, w) normalised image inside the box.
        mask (Tensor): (h, w) bool dilated foreground inside the box (kept for
            inspection; pasting uses the whole rectangle).
        aspect_ratio (float): Box width / height.
        box_area (int): Box width * height in pixels.
        positive_add (float): Sum of the class's ReLU'd raw CAM inside the box
            divided by the image area H * W.
    """
    crop: Tensor
    mask: Tensor
    aspect_ratio: float
    box_area: int
    positive_add: float


class PasteRecord(NamedTuple):
    """One paste of a forward pass: into image ``batch_index``, a crop of
    class ``class_index`` (foreground index) over ``box``
    ``(y0, x0, y1, x1)`` (exclusive ends), with the item's
    ``positive_add``."""
    batch_index: int
    class_index: int
    box: Box
    positive_add: float


def _bounding_box(mask: np.ndarray) -> Box:
    """Box ``(y0, x0, y1, x1)`` (exclusive ends) of a non-empty (H, W) mask."""
    x, y, width, height = cv2.boundingRect(mask.astype(np.uint8))
    return y, x, y + height, x + width


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a non-empty (H, W) bool mask (ties:
    the lowest OpenCV label)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def _component_at(mask: np.ndarray, y: int, x: int) -> np.ndarray:
    """8-connected component of the (H, W) bool mask containing ``(y, x)``,
    which must be set."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return labels == labels[y, x]


def gaussian_smooth(cam: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of an (H, W) float map.

    The kernel is truncated at 4 sigma and borders are mirrored including the
    edge pixel (``d c b a | a b c d``), as ``scipy.ndimage.gaussian_filter``
    with its defaults.
    """
    ksize = 2 * int(4 * sigma + 0.5) + 1
    return cv2.GaussianBlur(
        cam.astype(np.float32), (ksize, ksize), sigmaX=sigma, sigmaY=sigma,
        borderType=cv2.BORDER_REFLECT)


@ERASERS.register_module()
class CopyPasteEraser(BaseEraser):
    """Base erasing plus copy-paste of banked foreground crops of absent
    classes into uncertain images (KTSE+ reading; see the module docstring).

    Needs ``pseudo_labels``, ``class_cams`` and ``raw_cams`` in the
    :class:`ErasingInputs`.

    Args:
        base (dict): Config of the eraser whose output is pasted into.
            Defaults to ``HardThresholdEraser`` with threshold 0.6.
        bank_size (int): FIFO length of each class's queue. Defaults to 30.
        min_bank_classes (int): Classes the bank must hold before pasting
            starts. Defaults to 10 (set it below the number of classes of
            small datasets).
        min_bank_items (int): Items (over all classes) the bank must hold
            before pasting starts. Defaults to 20.
        area_range (tuple[float, float]): Admitted range (inclusive) of the
            dilated component's area over H * W. Defaults to (0.1, 0.6).
        smooth_sigma (float): Sigma of the Gaussian smoothing of the CAM
            that locates the paste box. Defaults to 2.0.
        cam_thr (float): Threshold (strict) on the smoothed CAM. Defaults
            to 0.6.
        box_margin (int): Pixels added on each side of the CAM component's
            box (clipped to the image). Defaults to 5.
        uncertainty_quantile (float): Images whose uncertainty ratio exceeds
            this quantile (linear interpolation) of the batch's ratios are
            pasted. Defaults to 0.25.
        aspect_weight (float): Weight of ``|log aspect - log aspect_target|``
            in the bank item matching cost. Defaults to 0.8.
        area_weight (float): Weight of ``|log area - log area_target|``.
            Defaults to 0.2.
        seed (int, optional): Seed of a generator private to the eraser;
            None uses the global torch RNG. Defaults to None.
    """

    def __init__(self,
                 base: dict = dict(type='HardThresholdEraser', threshold=0.6),
                 bank_size: int = 30,
                 min_bank_classes: int = 10,
                 min_bank_items: int = 20,
                 area_range: Tuple[float, float] = (0.1, 0.6),
                 smooth_sigma: float = 2.0,
                 cam_thr: float = 0.6,
                 box_margin: int = 5,
                 uncertainty_quantile: float = 0.25,
                 aspect_weight: float = 0.8,
                 area_weight: float = 0.2,
                 seed: Optional[int] = None) -> None:
        super().__init__()
        for key, value in (('bank_size', bank_size),
                           ('min_bank_classes', min_bank_classes),
                           ('min_bank_items', min_bank_items)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'{key} must be a positive int, got {value!r}.')
        if len(area_range) != 2 or not 0 <= area_range[0] <= area_range[1]:
            raise ValueError('area_range must be (low, high) with 0 <= low '
                             f'<= high, got {area_range!r}.')
        if not 0 <= cam_thr < 1:
            raise ValueError(f'cam_thr must lie in [0, 1) (the range of a '
                             f'normalised CAM), got {cam_thr!r}.')
        if smooth_sigma <= 0:
            raise ValueError(
                f'smooth_sigma must be positive, got {smooth_sigma!r}.')
        if not isinstance(box_margin, int) or box_margin < 0:
            raise ValueError(
                f'box_margin must be a non-negative int, got {box_margin!r}.')
        if not 0 <= uncertainty_quantile <= 1:
            raise ValueError('uncertainty_quantile must lie in [0, 1], got '
                             f'{uncertainty_quantile!r}.')
        if aspect_weight < 0 or area_weight < 0:
            raise ValueError('aspect_weight and area_weight must be '
                             f'non-negative, got {aspect_weight!r} and '
                             f'{area_weight!r}.')
        self.base = ERASERS.build(base)
        self.bank_size = bank_size
        self.min_bank_classes = min_bank_classes
        self.min_bank_items = min_bank_items
        self.area_range = tuple(area_range)
        self.smooth_sigma = smooth_sigma
        self.cam_thr = cam_thr
        self.box_margin = box_margin
        self.uncertainty_quantile = uncertainty_quantile
        self.aspect_weight = aspect_weight
        self.area_weight = area_weight
        self.generator = None if seed is None else torch.Generator(
        ).manual_seed(seed)
        self.bank: Dict[int, Deque[BankItem]] = {}
        self.last_paste: List[PasteRecord] = []

    @property
    def num_bank_items(self) -> int:
        """Items held by the bank over all classes."""
        return sum(len(items) for items in self.bank.values())

    @property
    def bank_active(self) -> bool:
        """Whether the bank holds enough classes and items to paste."""
        return (len(self.bank) >= self.min_bank_classes
                and self.num_bank_items >= self.min_bank_items)

    def forward(self, inputs: ErasingInputs) -> Tensor:
        """Erase with the base eraser, update the bank, then paste.

        Args:
            inputs (ErasingInputs): The batch, with ``pseudo_labels``,
                ``class_cams`` and ``raw_cams`` set.

        Returns:
            Tensor: (B, 3, H, W) erased images, pasted where selected.
        """
        self._check_inputs(inputs)
        erased = self.base(inputs)
        self.update_bank(inputs)
        self.last_paste = []
        if not self.bank_active:
            return erased
        return self.paste(erased, inputs)

    def update_bank(self, inputs: ErasingInputs) -> None:
        """Admit the largest dilated pseudo-label component of every
        single-class image whose area ratio lies in ``area_range``."""
        height, width = inputs.images.shape[-2:]
        present = inputs.labels > 0
        foreground = ((inputs.pseudo_labels != 0)
                      & (inputs.pseudo_labels != IGNORE_INDEX)).cpu().numpy()
        for i in torch.nonzero(present.sum(dim=1) == 1)[:, 0].tolist():
            if not foreground[i].any():
                continue
            component = _largest_component(foreground[i]).astype(np.uint8)
            dilated = cv2.dilate(component, np.ones((3, 3), np.uint8)) > 0
            if not (self.area_range[0] <= dilated.sum() / (height * width)
                    <= self.area_range[1]):
                continue
            class_index = int(torch.nonzero(present[i])[0, 0])
            y0, x0, y1, x1 = _bounding_box(dilated)
            box_cam = inputs.raw_cams[i, class_index, y0:y1, x0:x1]
            item = BankItem(
                crop=inputs.images[i, :, y0:y1, x0:x1].detach().clone(),
                mask=torch.from_numpy(dilated[y0:y1, x0:x1]).to(
                    inputs.images.device),
                aspect_ratio=(x1 - x0) / (y1 - y0),
                box_area=(x1 - x0) * (y1 - y0),
                positive_add=float(box_cam.sum()) / (height * width))
            self.bank.setdefault(class_index,
                                 deque(maxlen=self.bank_size)).append(item)

    def paste_candidates(self, pseudo_labels: Tensor) -> Tensor:
        """Images to paste into.

        The uncertainty ratio of an image is ``#255 / #foreground`` of its
        pseudo label (1 when it has no foreground); images whose ratio is
        strictly above the batch's ``uncertainty_quantile`` are selected.

        Args:
            pseudo_labels (Tensor): (B, H, W) int64 pseudo labels.

        Returns:
            Tensor: (B, ) bool.
        """
        ignored = (pseudo_labels == IGNORE_INDEX).sum(dim=(1, 2)).float()
        foreground = ((pseudo_labels != 0) & (pseudo_labels != IGNORE_INDEX)
                      ).sum(dim=(1, 2)).float()
        ratio = torch.where(foreground > 0, ignored / foreground,
                            torch.ones_like(ignored))
        return ratio > torch.quantile(ratio, self.uncertainty_quantile)

    def paste_box(self, cam: Tensor) -> Optional[Box]:
        """Target box in an image from its (H, W) normalised CAM.

        The CAM is smoothed, thresholded (``> cam_thr``); the 8-connected
        component containing the smoothed peak gives a box expanded by
        ``box_margin`` and clipped to the image.

        Returns:
            tuple | None: ``(y0, x0, y1, x1)`` (exclusive ends), or None when
            the smoothed peak does not exceed ``cam_thr``.
        """
        smoothed = gaussian_smooth(cam.detach().float().cpu().numpy(),
                                   self.smooth_sigma)
        peak_y, peak_x = np.unravel_index(np.argmax(smoothed), smoothed.shape)
        if smoothed[peak_y, peak_x] <= self.cam_thr:
            return None
        y0, x0, y1, x1 = _bounding_box(
            _component_at(smoothed > self.cam_thr, peak_y, peak_x))
        height, width = smoothed.shape
        margin = self.box_margin
        return (max(0, y0 - margin), max(0, x0 - margin),
                min(height, y1 + margin), min(width, x1 + margin))

    def select_bank_item(self, class_index: int, height: int,
                         width: int) -> BankItem:
        """The item of ``class_index`` whose box best matches a
        ``height`` x ``width`` target: minimal ``aspect_weight * |dlog
        aspect| + area_weight * |dlog area|`` (ties: the oldest item)."""
        log_aspect = math.log(width / height)
        log_area = math.log(height * width)

        def cost(item: BankItem) -> float:
            return (self.aspect_weight *
                    abs(math.log(item.aspect_ratio) - log_aspect) +
                    self.area_weight * abs(math.log(item.box_area) - log_area))

        return min(self.bank[class_index], key=cost)

    def paste(self, erased: Tensor, inputs: ErasingInputs) -> Tensor:
        """Paste bank crops into the erased uncertain images.

        For each labelled candidate image (:meth:`paste_candidates`), the CAM
        is the foreground CAM for a single-class image, else the normalised
        CAM of a random present class; a random bank class absent from the
        image is drawn and its best-matching item (:meth:`select_bank_item`)
        is resized bilinearly onto the :meth:`paste_box`.

        Args:
            erased (Tensor): (B, 3, H, W) output of the base eraser.
            inputs (ErasingInputs): The inputs ``erased`` came from.

        Returns:
            Tensor: (B, 3, H, W) a copy of ``erased`` with the pastes;
            :attr:`last_paste` lists them.
        """
        pasted = erased.clone()
        present = inputs.labels > 0
        candidates = self.paste_candidates(inputs.pseudo_labels)
        for i in torch.nonzero(candidates)[:, 0].tolist():
            classes = torch.nonzero(present[i])[:, 0].tolist()
            if not classes:
                continue
            if len(classes) == 1:
                cam = inputs.fg_cam[i, 0]
            else:
                cam = inputs.class_cams[i, classes[self._randint(
                    len(classes))]]
            box = self.paste_box(cam)
            if box is None:
                continue
            absent = [c for c in self.bank if c not in classes]
            if not absent:
                continue
            class_index = absent[self._randint(len(absent))]
            y0, x0, y1, x1 = box
            item = self.select_bank_item(class_index, y1 - y0, x1 - x0)
            pasted[i, :, y0:y1, x0:x1] = F.interpolate(
                item.crop[None], size=(y1 - y0, x1 - x0), mode='bilinear',
                align_corners=False)[0]
            self.last_paste.append(
                PasteRecord(i, class_index, box, item.positive_add))
        return pasted

    def _randint(self, high: int) -> int:
        """Uniform random int in ``[0, high)`` from the eraser's RNG."""
        return int(torch.randint(high, (1, ), generator=self.generator))

    @staticmethod
    def _check_inputs(inputs: ErasingInputs) -> None:
        """Raise if an optional input the eraser needs is None (shapes are
        checked by :class:`ErasingInputs`)."""
        for key in ('pseudo_labels', 'class_cams', 'raw_cams'):
            if getattr(inputs, key) is None:
                raise ValueError(f'CopyPasteEraser needs ErasingInputs.{key}'
                                 ' (see ErasingInputs for its shape), got '
                                 'None.')
