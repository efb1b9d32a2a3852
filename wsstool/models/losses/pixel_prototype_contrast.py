"""PPC: pixel-to-prototype contrast (CVPR 2022), an auxiliary loss that
attaches to any CAM method.

Two views of a batch are compared on the grid of the second one: view 1 is
the batch itself, view 2 the batch resized to ``view_size`` (PPC: 128x128;
bilinear, ``align_corners=True``; :mod:`wsstool.models.utils.views`), unless
the host method passes both views (SEAM, whose own ``view_size`` /
``view_scale`` then size view 2). Each :class:`ContrastView` gives features
(B, D, h, w), projected by ``fc_proj`` (1x1, no bias) + ReLU to
P = ``relu(fc_proj(feats))``, and raw foreground maps (B, C, h, w). P and
the maps of view 1 are resized to view 2's grid (bilinear,
``align_corners=True``), so both views align pixel-wise.

Per view v, without gradient (the maps and the prototype features are
detached):

* class scores s = [``bg_score``, ``minmax_infer``(relu(cam))]
  (B, C + 1, h, w), background at channel 0;
* pseudo labels y^v = argmax of s over the background and the classes of
  the image label (absent classes never win);
* prototypes rho^v (C + 1, D), batch-wide: for each channel k the top
  K = ``topk_ratio`` * h * w positions of s_k over all B * h * w positions,
  ``rho_k = L2norm(sum_i s_k(i) P(i) / sum_i s_k(i))`` with the un-normalised
  P of the same view. Absent classes get prototypes too; the background
  channel is constant, so which K positions it takes is up to ``topk``
  (``bg_prototype='complement'`` ranks them by 1 - max of the present classes
  instead).

With f = L2-normalised P (gradient flows here, to ``fc_proj`` and the host's
features of both views) and ``l(f, k, R) = -log(exp(f.rho_k / t) /
sum_{r in R} exp(f.rho_r / t))`` (t = ``temperature``):

* ``cross``: ``(mean_i l(f1_i, y1_i, rho2) + mean_i l(f2_i, y2_i, rho1)) / 2``
  (a pixel against the other view's prototypes, its own pseudo label);
* ``cross2``: ``(mean_i l(f1_i, y2_i, rho1) + mean_i l(f2_i, y1_i, rho2)) /
  2`` (its own view's prototypes, the other view's pseudo label);
* ``intra``: ``(I(f1, y1, rho1) + I(f2, y2, rho2)) / 2``. In I, a pixel's
  denominator holds its positive and the prototypes ranked
  ``hard_negative_skip + 1`` .. ``hard_negative_skip + num_negatives`` (4th
  to 13th) by similarity to it, the positive possibly twice. For every class
  with n >= 2 pixels in the view: a random n // 2 of them plus a semi-hard
  n // 2 (ascending similarity to the positive, positions
  floor(``semi_hard_ratio`` * n) - n // 2 .. floor(``semi_hard_ratio`` * n) -
  1), concatenated (a pixel in both sets counts twice), averaged; I sums
  these class means and divides by the number of classes in the view's
  pseudo labels, those with n < 2 included (``class_mean='present'``) or
  not (``'sampled'``).

Each term is multiplied by its weight (0.1 each). With fewer prototypes than
the reference's 21 (e.g. SynthVOC's 9) the ranks are clamped to the
number available: 9 prototypes keep ranks 4..9.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS
from ..utils.cam_ops import normalize_cam
from ..utils.cfg_defaults import is_number
from ..utils.contrast_view import ContrastView
from ..utils.views import (check_view_options, resize_corners,
                           second_view_size)

TERMS = ('cross', 'cross2', 'intra')
CLASS_MEANS = ('present', 'sampled')
BG_PROTOTYPES = ('constant', 'complement')


def class_scores(cam: Tensor, bg_score: float) -> Tensor:
    """Scores (B, C + 1, h, w) of raw (B, C, h, w) class maps: a constant
    ``bg_score`` background channel 0, then ``minmax_infer`` of relu(cam)."""
    fg = normalize_cam(cam, 'minmax_infer')
    bg = fg.new_full((fg.shape[0], 1, *fg.shape[2:]), bg_score)
    return torch.cat([bg, fg], dim=1)


def pseudo_labels(scores: Tensor, labels: Tensor) -> Tensor:
    """(B, h, w) int64 argmax of (B, C + 1, h, w) ``scores`` over the
    background (0) and the classes of the (B, C) image ``labels`` (c + 1);
    ties go to the lower index."""
    present = torch.cat(
        [labels.new_ones(labels.shape[0], 1), labels], dim=1) > 0.5
    return scores.masked_fill(~present[..., None, None],
                              float('-inf')).argmax(dim=1)


def complement_background(scores: Tensor, labels: Tensor) -> Tensor:
    """``scores`` (B, C + 1, h, w) with channel 0 replaced by
    ``1 - max(0, scores of the present classes)`` per pixel ((B, C)
    ``labels``; 1 where an image has none)."""
    fg = scores[:, 1:] * labels[..., None, None]
    return torch.cat([1 - fg.amax(dim=1, keepdim=True), scores[:, 1:]],
                     dim=1)


def num_top_positions(topk_ratio: float, size: Sequence[int],
                      num_positions: int) -> int:
    """K = floor(``topk_ratio`` * h * w) for a grid of ``size`` (h, w),
    clamped to 1 .. ``num_positions``."""
    return min(max(1, int(topk_ratio * size[0] * size[1])), num_positions)


def class_prototypes(scores: Tensor, feats: Tensor, num_top: int) -> Tensor:
    """Batch-wide prototypes (K, D) of (B, D, h, w) ``feats``.

    For each of the K score channels of (B, K, h, w) ``scores``, the
    ``num_top`` highest-scoring of all B * h * w positions are averaged with
    their scores as weights, then L2-normalised.
    """
    channels, dims = scores.shape[1], feats.shape[1]
    weights, index = scores.transpose(0, 1).reshape(channels, -1).topk(
        num_top, dim=1)
    pixels = feats.permute(0, 2, 3, 1).reshape(-1, dims)[index]
    summed = (weights.unsqueeze(-1) * pixels).sum(dim=1)
    return F.normalize(summed / weights.sum(dim=1, keepdim=True), dim=1)


def info_nce(feats: Tensor, prototypes: Tensor, targets: Tensor,
             temperature: float) -> Tensor:
    """Mean over N pixels of ``-log softmax(f . rho / t)[target]``:
    L2-normalised (N, D) ``feats``, (K, D) ``prototypes``, (N,) int64
    ``targets``."""
    return F.cross_entropy(feats @ prototypes.t() / temperature, targets)


def rank_within_class(targets: Tensor, keys: Tensor,
                      counts: Tensor) -> Tensor:
    """(N,) int64 rank of each pixel among the pixels of its class (N,
    ``targets``) by ascending (N,) ``keys``, ties by pixel order; ``counts``
    (K,) pixels per class."""
    order = keys.argsort(stable=True)
    order = order[targets[order].argsort(stable=True)]
    starts = counts.cumsum(0) - counts
    ranks = torch.empty_like(targets)
    ranks[order] = torch.arange(
        targets.numel(), device=targets.device) - starts[targets[order]]
    return ranks


def sample_class_pixels(targets: Tensor,
                        similarity: Tensor,
                        num_classes: int,
                        semi_hard_ratio: float = 0.6,
                        random_keys: Optional[Tensor] = None) -> Tensor:
    """How often (0, 1 or 2) the intra-view term uses each pixel.

    For every class with n >= 2 of the (N,) int64 ``targets`` (values
    < ``num_classes``): a random n // 2 of its pixels (the n // 2 smallest
    ``random_keys``, uniform by default from torch's global generator) plus
    the semi-hard n // 2: ranked by ascending (N,) ``similarity`` to their
    positive prototype, ranks floor(``semi_hard_ratio`` * n) - n // 2 to
    floor(``semi_hard_ratio`` * n) - 1.

    Returns:
        Tensor: (N,) float32 use counts.
    """
    if random_keys is None:
        random_keys = torch.rand(targets.numel(), device=targets.device)
    counts = torch.bincount(targets, minlength=num_classes)
    half = (counts // 2)[targets]
    # float64 product and floor: Python's int(n * ratio) of the reference
    end = torch.floor(counts.double() * semi_hard_ratio).long()[targets]
    random_ranks = rank_within_class(targets, random_keys, counts)
    hard_ranks = rank_within_class(targets, similarity, counts)
    in_random = random_ranks < half
    in_semi_hard = (hard_ranks >= end - half) & (hard_ranks < end)
    return in_random.float() + in_semi_hard.float()


def intra_view_contrast(feats: Tensor,
                        prototypes: Tensor,
                        targets: Tensor,
                        temperature: float,
                        hard_negative_skip: int = 3,
                        num_negatives: int = 10,
                        semi_hard_ratio: float = 0.6,
                        class_mean: str = 'present',
                        random_keys: Optional[Tensor] = None) -> Tensor:
    """Intra-view term I of one view (see the module docstring).

    Args:
        feats (Tensor): (N, D) L2-normalised pixel features.
        prototypes (Tensor): (K, D) prototypes of the same view.
        targets (Tensor): (N,) int64 pseudo labels < K.
        temperature (float): t.
        hard_negative_skip (int): Most similar prototypes left out.
        num_negatives (int): Prototypes kept after them (fewer when K is
            smaller).
        semi_hard_ratio (float): See :func:`sample_class_pixels`.
        class_mean (str): ``'present'`` divides by the classes in
            ``targets``, ``'sampled'`` by those with n >= 2.
        random_keys (Tensor, optional): (N,) keys of the random pixel
            sample; drawn uniformly when None.

    Returns:
        Tensor: scalar.
    """
    num_classes = prototypes.shape[0]
    logits = feats @ prototypes.t() / temperature
    positive = logits.gather(1, targets[:, None])
    num_ranked = min(hard_negative_skip + num_negatives, num_classes)
    ranked = logits.topk(num_ranked, dim=1).values[:, hard_negative_skip:]
    losses = torch.cat([positive, ranked], dim=1).logsumexp(dim=1) - \
        positive[:, 0]
    uses = sample_class_pixels(targets, positive.detach()[:, 0], num_classes,
                               semi_hard_ratio, random_keys)
    class_sums = losses.new_zeros(num_classes).index_add(
        0, targets, uses * losses)
    class_uses = uses.new_zeros(num_classes).index_add(0, targets, uses)
    class_losses = class_sums / class_uses.clamp(min=1)
    counts = torch.bincount(targets, minlength=num_classes)
    num_counted = (counts >= (1 if class_mean == 'present' else 2)).sum()
    return class_losses.sum() / num_counted.clamp(min=1)


@MODELS.register_module()
class PixelPrototypeContrast(BaseModule):
    """Pixel-to-prototype contrast (PPC), see the module docstring.

    Called by the host method (:meth:`CAMClassifier.add_aux_losses`) as
    ``aux(model, inputs, labels, views)``; attach it with
    ``model.aux_losses=[dict(type='PixelPrototypeContrast', in_channels=D)]``.
    The prototypes are computed from each process's batch (the reference's
    ``DataParallel`` pools the whole batch).

    Args:
        in_channels (int): Channels D of the views' features.
        proj_channels (int): Channels of ``fc_proj``. Defaults to 128.
        view_size (tuple[int, int], optional): (h, w) the second view is
            resized to when the host does not pass it. Defaults to (128, 128)
            (PPC). Set None to use ``view_scale``; must be None, with
            ``view_scale``, for a host that passes both views (SEAM: view 2
            is sized by ``SEAM.view_size`` / ``view_scale``).
        view_scale (float, optional): Second view = the batch scaled by
            this factor in (0, 1] (sides floored, as
            ``F.interpolate(scale_factor=)``); needs ``view_size=None``.
            Defaults to None.
        bg_score (float): Constant background score (> 0) of the pseudo
            labels (PPC ``--bg_threshold`` 0.20; EPS-based branch 0.10).
        topk_ratio (float): K = floor(topk_ratio * h * w) positions per
            prototype (PPC 1/8; EPS-based branch 1/16).
        temperature (float): Defaults to 0.1.
        hard_negative_skip (int): Most similar prototypes skipped in the
            intra term. Defaults to 3.
        num_negatives (int): Negatives kept after them. Defaults to 10.
        semi_hard_ratio (float): Defaults to 0.6.
        class_mean (str): Denominator of the intra term: ``'present'``
            (the reference: every class in the pseudo labels) or
            ``'sampled'`` (classes with at least 2 pixels).
        bg_prototype (str): Positions of the background prototype:
            ``'constant'`` (the reference: top-K of the constant background
            channel, i.e. positions chosen by ``topk`` among ties) or
            ``'complement'`` (top-K of 1 - max of the present classes).
        loss_weight (float or dict): Weight of each term, or a dict with the
            keys ``'cross'``, ``'cross2'``, ``'intra'``. Defaults to 0.1.
        loss_name (str): Prefix of the returned terms
            ``{loss_name}_cross``, ``_cross2``, ``_intra``; starts with
            ``'loss'``. Defaults to ``'loss'``.
        init_cfg (dict, optional): Defaults to Xavier-uniform ``fc_proj``.
    """

    def __init__(self,
                 in_channels: int,
                 proj_channels: int = 128,
                 view_size: Optional[Sequence[int]] = (128, 128),
                 view_scale: Optional[float] = None,
                 bg_score: float = 0.20,
                 topk_ratio: float = 1 / 8,
                 temperature: float = 0.1,
                 hard_negative_skip: int = 3,
                 num_negatives: int = 10,
                 semi_hard_ratio: float = 0.6,
                 class_mean: str = 'present',
                 bg_prototype: str = 'constant',
                 loss_weight: Union[float, Dict[str, float]] = 0.1,
                 loss_name: str = 'loss',
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        self._check_options(
            in_channels=in_channels,
            proj_channels=proj_channels,
            view_size=view_size,
            view_scale=view_scale,
            bg_score=bg_score,
            topk_ratio=topk_ratio,
            temperature=temperature,
            hard_negative_skip=hard_negative_skip,
            num_negatives=num_negatives,
            semi_hard_ratio=semi_hard_ratio,
            class_mean=class_mean,
            bg_prototype=bg_prototype,
            loss_name=loss_name)
        self.in_channels = in_channels
        self.view_size = None if view_size is None else tuple(view_size)
        self.view_scale = view_scale
        self.bg_score = bg_score
        self.topk_ratio = topk_ratio
        self.temperature = temperature
        self.hard_negative_skip = hard_negative_skip
        self.num_negatives = num_negatives
        self.semi_hard_ratio = semi_hard_ratio
        self.class_mean = class_mean
        self.bg_prototype = bg_prototype
        self.loss_weights = self._parse_weights(loss_weight)
        self.loss_name = loss_name
        self.fc_proj = nn.Conv2d(in_channels, proj_channels, 1, bias=False)

    @staticmethod
    def _check_options(in_channels: int, proj_channels: int,
                       view_size: Optional[Sequence[int]],
                       view_scale: Optional[float], bg_score: float,
                       topk_ratio: float, temperature: float,
                       hard_negative_skip: int, num_negatives: int,
                       semi_hard_ratio: float, class_mean: str,
                       bg_prototype: str, loss_name: str) -> None:
        """Raise a ValueError naming the first invalid option."""
        name = 'PixelPrototypeContrast'
        for key, value in (('in_channels', in_channels),
                           ('proj_channels', proj_channels)):
            if not (isinstance(value, int) and not isinstance(value, bool)
                    and value > 0):
                raise ValueError(f'{name} {key} must be a positive integer, '
                                 f'got {value!r}.')
        check_view_options(name, view_size, view_scale, required=False)
        for key, value in (('bg_score', bg_score),
                           ('topk_ratio', topk_ratio),
                           ('temperature', temperature)):
            if not (is_number(value) and value > 0):
                raise ValueError(f'{name} {key} must be a positive number, '
                                 f'got {value!r}.')
        for key, value in (('hard_negative_skip', hard_negative_skip),
                           ('num_negatives', num_negatives)):
            if not (isinstance(value, int) and not isinstance(value, bool)
                    and value >= 0):
                raise ValueError(f'{name} {key} must be a non-negative '
                                 f'integer, got {value!r}.')
        if not (is_number(semi_hard_ratio) and 0.5 <= semi_hard_ratio <= 1):
            raise ValueError(f'{name} semi_hard_ratio must be in [0.5, 1] '
                             '(the semi-hard set is the n // 2 pixels below '
                             f'that quantile), got {semi_hard_ratio!r}.')
        for key, value, choices in (('class_mean', class_mean, CLASS_MEANS),
                                    ('bg_prototype', bg_prototype,
                                     BG_PROTOTYPES)):
            if value not in choices:
                raise ValueError(f'{name} {key}={value!r}; expected one of '
                                 f'{choices}.')
        if not (isinstance(loss_name, str) and loss_name.startswith('loss')):
            raise ValueError(f"{name} loss_name must start with 'loss' (so "
                             f'that its terms are summed), got '
                             f'{loss_name!r}.')

    @staticmethod
    def _parse_weights(
            loss_weight: Union[float, Dict[str, float]]) -> Dict[str, float]:
        """Weight of each term from a number or a dict over ``TERMS``."""
        if is_number(loss_weight):
            return {term: float(loss_weight) for term in TERMS}
        if not (isinstance(loss_weight, dict) and set(loss_weight) == set(
                TERMS) and all(is_number(w) for w in loss_weight.values())):
            raise ValueError('PixelPrototypeContrast loss_weight must be a '
                             f'number or a dict with the keys {TERMS}, got '
                             f'{loss_weight!r}.')
        return {term: float(loss_weight[term]) for term in TERMS}

    @property
    def makes_second_view(self) -> bool:
        """Whether ``view_size`` or ``view_scale`` sizes a second view."""
        return self.view_size is not None or self.view_scale is not None

    def second_view_images(self, inputs: Tensor) -> Tensor:
        """(B, 3, h', w') second view of (B, 3, H, W) images: resized to
        ``view_size`` (or by ``view_scale``), bilinear, align_corners."""
        if not self.makes_second_view:
            raise ValueError(
                'PixelPrototypeContrast has view_size=None and view_scale='
                'None, so the host method must pass the second view, but it '
                'passed none; set view_size or view_scale to compute it.')
        return resize_corners(
            inputs,
            second_view_size(inputs.shape, self.view_size, self.view_scale))

    def project(self, feats: Tensor) -> Tensor:
        """(B, proj_channels, h, w) = relu(fc_proj((B, in_channels, h, w)))."""
        if feats.dim() != 4 or feats.shape[1] != self.in_channels:
            raise ValueError(
                f'PixelPrototypeContrast(in_channels={self.in_channels}) got '
                f'view features of shape {tuple(feats.shape)}; expected '
                f'(B, {self.in_channels}, h, w): set in_channels to the '
                'channels of the feature the host method exposes.')
        return F.relu(self.fc_proj(feats))

    def _view_targets(self, cam: Tensor,
                      labels: Tensor) -> Tuple[Tensor, Tensor]:
        """Pseudo labels (B, h, w) and prototype scores (B, C + 1, h, w) of
        raw (B, C, h, w) maps, without gradient."""
        scores = class_scores(cam.detach(), self.bg_score)
        targets = pseudo_labels(scores, labels)
        if self.bg_prototype == 'complement':
            scores = complement_background(scores, labels)
        return targets, scores

    def forward(
        self, model: nn.Module, inputs: Tensor, labels: Tensor,
        views: Tuple[Optional[ContrastView], Optional[ContrastView]]
    ) -> Dict[str, Tensor]:
        """Compute the three weighted terms.

        Args:
            model (nn.Module): The host method; its ``contrast_view(images)``
                gives a missing view.
            inputs (Tensor): (B, 3, H, W) images of view 1.
            labels (Tensor): (B, C) multi-hot image labels.
            views (tuple): (view 1 of ``inputs``, view 2 of the resized
                batch), :class:`ContrastView` or None.

        Returns:
            dict[str, Tensor]: ``{loss_name}_cross``, ``_cross2``,
            ``_intra``, float32 scalars.

        Raises:
            ValueError: If the host passes view 2 while ``view_size`` or
                ``view_scale`` is set (they would be ignored), or if a view
                does not match the labels or ``in_channels``.
        """
        if not (isinstance(views, (list, tuple)) and len(views) == 2):
            raise ValueError('PixelPrototypeContrast views must be a pair '
                             f'(view1, view2), got {views!r}.')
        view1, view2 = views
        if view2 is not None and self.makes_second_view:
            raise ValueError(
                f'PixelPrototypeContrast(view_size={self.view_size!r}, '
                f'view_scale={self.view_scale!r}): the host method '
                f'{type(model).__name__} passes its own second view, which '
                'these options would not size; set view_size=None (and '
                "view_scale=None) and size the view with the host's options "
                '(SEAM: model.view_size / model.view_scale).')
        if view1 is None:
            view1 = model.contrast_view(inputs)
        if view2 is None:
            view2 = model.contrast_view(self.second_view_images(inputs))
        for index, view in enumerate((view1, view2), 1):
            if view.cam.dim() != 4 or view.cam.shape[:2] != labels.shape \
                    or view.feats.shape[-2:] != view.cam.shape[-2:]:
                raise ValueError(
                    f'PixelPrototypeContrast view {index}: expected cam (B, '
                    'C, h, w) matching the (B, C) labels and feats on the '
                    f'same grid; got cam {tuple(view.cam.shape)}, feats '
                    f'{tuple(view.feats.shape)}, labels '
                    f'{tuple(labels.shape)}.')
        proj1, proj2 = self.project(view1.feats), self.project(view2.feats)
        with torch.autocast(device_type=proj2.device.type, enabled=False):
            return self._terms(proj1.float(), view1.cam.float(),
                               proj2.float(), view2.cam.float(),
                               labels.float())

    def _terms(self, proj1: Tensor, cam1: Tensor, proj2: Tensor, cam2: Tensor,
               labels: Tensor) -> Dict[str, Tensor]:
        """The weighted terms from float32 projections (B, P, h, w) and raw
        maps (B, C, h, w) of both views, view 1 at its own grid."""
        grid = proj2.shape[-2:]
        proj1, cam1 = resize_corners(proj1, grid), resize_corners(cam1, grid)
        num_top = num_top_positions(self.topk_ratio, grid,
                                    proj2.shape[0] * grid[0] * grid[1])
        targets, prototypes, pixels = [], [], []
        for proj, cam in ((proj1, cam1), (proj2, cam2)):
            view_targets, scores = self._view_targets(cam, labels)
            targets.append(view_targets.reshape(-1))
            prototypes.append(
                class_prototypes(scores, proj.detach(), num_top))
            pixels.append(
                F.normalize(proj.permute(0, 2, 3, 1).flatten(0, 2), dim=1))
        (y1, y2), (rho1, rho2), (f1, f2) = targets, prototypes, pixels
        t = self.temperature
        terms = dict(
            cross=(info_nce(f1, rho2, y1, t) + info_nce(f2, rho1, y2, t)) / 2,
            cross2=(info_nce(f1, rho1, y2, t) + info_nce(f2, rho2, y1, t)) /
            2,
            intra=(self._intra(f1, rho1, y1) + self._intra(f2, rho2, y2)) / 2)
        return {
            f'{self.loss_name}_{term}': self.loss_weights[term] * value
            for term, value in terms.items()
        }

    def _intra(self, feats: Tensor, prototypes: Tensor,
               targets: Tensor) -> Tensor:
        """:func:`intra_view_contrast` with this module's options."""
        return intra_view_contrast(feats, prototypes, targets,
                                   self.temperature, self.hard_negative_skip,
                                   self.num_negatives, self.semi_hard_ratio,
                                   self.class_mean)
