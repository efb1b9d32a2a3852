"""AffinityNet (PSA): inter-pixel affinities from learned features, and the
random walk that turns CAMs into pseudo labels."""
from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS, REFINERS
from wsstool.structures import WSSSDataSample
from ..utils.cfg_defaults import is_number, merge_cfg_defaults
from ..utils.crf_image import read_crf_image
from ..utils.path_index import (PathIndex, affinity_pair_labels,
                                feature_affinities, subsample_label)
from .base import BaseRefineNet

_TRAIN_CFG_DEFAULTS = dict(radius=5)
_TEST_CFG_DEFAULTS = dict(
    radius=5,
    bg='power',
    bg_power=19.0,
    bg_score=0.27,
    border_pairs='full',
    random_walk=dict(type='RandomWalk', beta=8, num_steps=64, mode='sparse'),
    crf=None)
BACKGROUND_MODES = ('power', 'constant')
BORDER_PAIR_MODES = ('full', 'source_crop')
# Side of the zero image whose feature grid gives the feature stride.
_STRIDE_PROBE_SIZE = 64
# Smallest per-pixel score total divided by in the CRF normalisation.
_SCORE_SUM_EPS = 1e-12


def _merge_cfg(cfg: Optional[dict], defaults: dict, name: str) -> dict:
    """``cfg`` over ``defaults``, rejecting unknown keys; its ``radius``
    must be a number > 1."""
    merged = merge_cfg_defaults(cfg, defaults, f'AffinityNet {name}')
    if not (is_number(merged['radius']) and merged['radius'] > 1):
        raise ValueError(f'AffinityNet {name}.radius must be a number > 1, '
                         f'got {merged["radius"]!r}.')
    return merged


def _parse_test_cfg(test_cfg: Optional[dict]) -> dict:
    """Merge ``test_cfg`` into the defaults (``random_walk`` into its
    default too) and validate it."""
    cfg = _merge_cfg(test_cfg, _TEST_CFG_DEFAULTS, 'test_cfg')
    cfg['random_walk'] = dict(_TEST_CFG_DEFAULTS['random_walk'],
                              **cfg['random_walk'])
    if cfg['bg'] not in BACKGROUND_MODES:
        raise ValueError(f'AffinityNet test_cfg.bg={cfg["bg"]!r}; expected '
                         f'one of {BACKGROUND_MODES}.')
    if not (is_number(cfg['bg_power']) and cfg['bg_power'] > 0):
        raise ValueError('AffinityNet test_cfg.bg_power must be a number '
                         f'> 0, got {cfg["bg_power"]!r}.')
    if not is_number(cfg['bg_score']):
        raise ValueError('AffinityNet test_cfg.bg_score must be a number, '
                         f'got {cfg["bg_score"]!r}.')
    if cfg['border_pairs'] not in BORDER_PAIR_MODES:
        raise ValueError(
            f'AffinityNet test_cfg.border_pairs={cfg["border_pairs"]!r}; '
            f'expected one of {BORDER_PAIR_MODES}.')
    return cfg


@MODELS.register_module()
class AffinityNet(BaseRefineNet):
    """AffinityNet of PSA, as used by PSA, SEAM, AEFT and PPC.

    A backbone and an :class:`AffinityHead` give an embedding f on the
    feature grid (stride s, 8 for ResNet-38d); the affinity of two cells i
    and j is ``exp(-mean_c |f_i - f_j|)``.

    Modes of :meth:`forward`:

    * ``'loss'``: affinity loss against the relation labels in
      ``gt_sem_seg`` (0 = background, c + 1 = class c, 255 = unsure). Each
      label map is subsampled to the feature grid
      (:func:`subsample_label`), paired within ``train_cfg.radius`` over the
      source crop (:func:`affinity_pair_labels`) and compared with the
      affinities of the same pairs by ``loss_affinity``. PSA instead
      average-pools its la/ha CRF score maps by 8 and takes the arg-max
      there; wsstool subsamples the relation label made at full
      resolution.
    * ``'predict'``: random walk of each sample's ``pred_cam`` (see
      :meth:`propagate_cams`, then the optional CRF of
      :meth:`refine_with_crf`); sets ``pred_scores`` and ``pred_sem_seg``.
    * ``'tensor'``: the embedding (B, C, h, w).

    Reference checkpoints (PSA's ``resnet38_aff.Net``, AEFT's
    ``train_aff.py``), whose keys have no ``backbone.``/``head.`` prefix,
    load directly: their keys are mapped to this model's names on loading.
    AEFT's selection of the AffinityNet checkpoint by the walk's mIoU on
    the ground truth of VOC train is not reproduced (the last checkpoint is
    used).

    Args:
        backbone (dict): Backbone config returning the head's three
            features (ResNet-38d: ``out_indices=(1, 2, 3)``).
        head (dict): :class:`AffinityHead` config.
        loss_affinity (dict): :class:`AffinityLoss` config, called as
            ``loss(affinity, bg_pos, fg_pos, neg)``.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        train_cfg (dict, optional): ``radius`` of the training pairs on the
            feature grid (default 5).
        test_cfg (dict, optional): Options of the walk (defaults in
            brackets):

            * ``radius`` (5): neighbourhood radius on the feature grid.
            * ``bg`` (``'power'``): background channel
              ``(1 - max_k cam_k) ** bg_power`` (``'power'``; PSA 16, SEAM
              6, AEFT 19) or the constant ``bg_score`` (``'constant'``; PPC
              0.27).
            * ``bg_power`` (19.0), ``bg_score`` (0.27): see ``bg``; only the
              selected one is used.
            * ``border_pairs`` (``'full'``): ``'full'`` pairs every cell
              with its neighbours; ``'source_crop'`` reproduces the pair
              indices of PSA/SEAM/AEFT/PPC, where only cells in rows
              [0, h - m) and columns [m, w - m) (m = ceil(radius) - 1) are
              pair sources, so two cells that both lie in the bottom m rows
              or the left/right m columns are never joined.
            * ``random_walk`` (``dict(type='RandomWalk', beta=8,
              num_steps=64, mode='sparse')``): :class:`RandomWalk` config,
              merged into the default (PSA: ``num_steps=256``).
            * ``crf`` (None): a dense CRF with a probability unary applied
              after the walk, e.g. ``dict(type='DenseCRF',
              preset='psa_prob', num_iter=1)`` (AEFT; SEAM optionally).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss_affinity: dict = dict(type='AffinityLoss'),
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        train_cfg = _merge_cfg(train_cfg, _TRAIN_CFG_DEFAULTS, 'train_cfg')
        test_cfg = _parse_test_cfg(test_cfg)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.loss_affinity = MODELS.build(loss_affinity)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.train_path_index = PathIndex(self.train_cfg['radius'])
        self.test_path_index = PathIndex(self.test_cfg['radius'])
        self.random_walk = REFINERS.build(self.test_cfg['random_walk'])
        self.crf = None
        if self.test_cfg['crf'] is not None:
            self.crf = REFINERS.build(self.test_cfg['crf'])
            if self.crf.params['unary'] != 'prob':
                raise ValueError(
                    'AffinityNet test_cfg.crf needs a CRF with a '
                    f'probability unary (e.g. preset "psa_prob"), got '
                    f'{self.crf!r}.')
        self._feature_stride = None

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Embedding (B, C, h, w) of (B, 3, H, W) images."""
        return self.head(self.backbone(inputs))

    @property
    def feature_stride(self) -> int:
        """Stride s of the embedding grid: an H x W image gives a
        ceil(H / s) x ceil(W / s) grid.

        Derived once from the grid of a zero image of side 64, run without
        gradients in eval mode.
        """
        if self._feature_stride is None:
            self._feature_stride = self._probe_feature_stride()
        return self._feature_stride

    def _probe_feature_stride(self) -> int:
        probe = next(self.parameters()).new_zeros(1, 3, _STRIDE_PROBE_SIZE,
                                                  _STRIDE_PROBE_SIZE)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                grid = tuple(self.extract_feat(probe).shape[-2:])
        finally:
            self.train(was_training)
        stride = _STRIDE_PROBE_SIZE // grid[0]
        if grid[0] != grid[1] or stride * grid[0] != _STRIDE_PROBE_SIZE:
            raise ValueError(
                f'AffinityNet: a {_STRIDE_PROBE_SIZE}x{_STRIDE_PROBE_SIZE} '
                f'image gives a {grid[0]}x{grid[1]} embedding grid; expected '
                'a square grid whose side divides it (a power-of-2 stride).')
        return stride

    def _forward(self, inputs: Tensor) -> Tensor:
        """The embedding (``'tensor'`` mode)."""
        return self.extract_feat(inputs)

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """Affinity losses of (B, 3, H, W) images against their relation
        labels (``gt_sem_seg`` (1, H, W) each)."""
        labels = self._stack_relation_labels(data_samples, inputs.device)
        labels = subsample_label(labels, self.feature_stride)
        embedding = self.extract_feat(inputs)
        if labels.shape[-2:] != embedding.shape[-2:]:
            raise ValueError(
                f'AffinityNet: relation labels subsampled by the feature '
                f'stride {self.feature_stride} are '
                f'{tuple(labels.shape[-2:])} but the embedding grid is '
                f'{tuple(embedding.shape[-2:])}; gt_sem_seg must have the '
                'size of the input batch.')
        path_index = self.train_path_index
        pairs = affinity_pair_labels(labels, path_index.directions,
                                     path_index.margin)
        affinities = feature_affinities(embedding, path_index.directions,
                                        path_index.margin)
        return self.loss_affinity(affinities, *pairs)

    def background_score(self, cams: Tensor) -> Tensor:
        """Background channel (H, W) of (K, H, W) CAMs in [0, 1]
        (``test_cfg.bg``)."""
        cfg = self.test_cfg
        if cfg['bg'] == 'constant':
            return cams.new_full(cams.shape[1:], cfg['bg_score'])
        if len(cams) == 0:
            return cams.new_ones(cams.shape[1:])
        return (1 - cams.amax(dim=0)).pow(cfg['bg_power'])

    def propagate_cams(self, inputs: Tensor, cams: Tensor) -> Tensor:
        """Random walk of CAMs over the image's affinities (PSA's
        ``infer_aff.py``).

        The image is zero-padded at the bottom/right to a multiple of the
        feature stride s; the affinities of every cell with its neighbours
        within ``test_cfg.radius`` (see ``border_pairs``) drive the walk of
        [background, cams], padded with zeros likewise and average-pooled by
        s to the feature grid; the walked scores are upsampled by s
        (bilinear, ``align_corners=False``) and cropped to (H, W).

        Args:
            inputs (Tensor): (1, 3, H, W) normalised image.
            cams (Tensor): (K, H, W) max-normalised CAMs in [0, 1] of the K
                present classes (K may be 0).

        Returns:
            Tensor: (K + 1, H, W) float32 scores, channel 0 = background.
        """
        if inputs.dim() != 4 or inputs.shape[0] != 1:
            raise ValueError('AffinityNet propagate_cams needs one image '
                             f'(1, 3, H, W), got {tuple(inputs.shape)}.')
        if cams.dim() != 3 or cams.shape[1:] != inputs.shape[2:]:
            raise ValueError(
                f'AffinityNet propagate_cams: cams {tuple(cams.shape)} must '
                f'be (K, H, W) with the image size {tuple(inputs.shape[2:])}.')
        if cams.numel() and (cams.min() < 0 or cams.max() > 1):
            raise ValueError(
                'AffinityNet propagate_cams needs max-normalised CAMs in '
                f'[0, 1], got values in [{cams.min().item()}, '
                f'{cams.max().item()}].')
        height, width = inputs.shape[2:]
        stride = self.feature_stride
        padding = (0, -width % stride, 0, -height % stride)
        embedding = self.extract_feat(F.pad(inputs, padding))
        grid = ((height + padding[3]) // stride,
                (width + padding[1]) // stride)
        if tuple(embedding.shape[-2:]) != grid:
            raise ValueError(
                f'AffinityNet: the embedding grid '
                f'{tuple(embedding.shape[-2:])} of the padded image is not '
                f'its size divided by the feature stride {stride}: {grid}.')
        scores = torch.cat([self.background_score(cams)[None], cams]).float()
        strided = F.avg_pool2d(F.pad(scores, padding)[None], stride)[0]
        walked = self.random_walk(strided, self.walk_affinities(embedding)[0],
                                  self.test_path_index.directions)
        upsampled = F.interpolate(
            walked[None],
            size=(grid[0] * stride, grid[1] * stride),
            mode='bilinear',
            align_corners=False)[0]
        return upsampled[:, :height, :width]

    def walk_affinities(self, embedding: Tensor) -> Tensor:
        """Affinities (B, D, h, w) of every cell of a (B, C, h, w)
        embedding with its ``test_cfg.radius`` neighbours ('full' region
        layout); with ``border_pairs='source_crop'`` those of sources
        outside rows [0, h - m), columns [m, w - m) are 0 (no edge)."""
        path_index = self.test_path_index
        margin = path_index.margin
        if self.test_cfg['border_pairs'] == 'full':
            return feature_affinities(embedding, path_index.directions,
                                      margin, region='full')
        cropped = feature_affinities(embedding, path_index.directions, margin)
        return F.pad(cropped, (margin, margin, 0, margin))

    def refine_with_crf(self, score: Tensor, image: np.ndarray) -> Tensor:
        """Dense CRF (``test_cfg.crf``) on walked scores.

        The scores are divided by their per-pixel sum, so that the CRF gets
        a distribution per pixel. This adds the same constant to every
        label's unary -log(clip(p, 1e-5, 1)) at a pixel, which mean-field
        inference ignores: the result equals that of AEFT, which passes the
        raw walked scores, except where the 1e-5 clip of the unary binds.
        AEFT runs the CRF on all 21 VOC channels (absent classes 0) of the
        padded image; here it runs on the K + 1 present channels of the
        original image.

        Args:
            score (Tensor): (K + 1, H, W) non-negative walked scores.
            image (np.ndarray): (H, W, 3) RGB uint8 original image.

        Returns:
            Tensor: (K + 1, H, W) float32 CRF marginals on ``score``'s
            device.
        """
        if self.crf is None:
            raise ValueError('AffinityNet refine_with_crf needs test_cfg.crf.')
        if tuple(image.shape[:2]) != tuple(score.shape[1:]):
            raise ValueError(
                f'AffinityNet CRF: the image is {tuple(image.shape[:2])} but '
                f'the scores are {tuple(score.shape[1:])}; expected the same '
                'size (the CRF image is read from img_path, unresized).')
        total = score.sum(dim=0, keepdim=True).clamp_min(_SCORE_SUM_EPS)
        prob = (score / total).cpu().numpy()
        return torch.from_numpy(self.crf(image, prob)).to(score.device)

    def refine_scores(self, score: Tensor,
                      data_sample: WSSSDataSample) -> Tensor:
        """The walked scores, refined by the dense CRF of ``test_cfg.crf``
        (:meth:`refine_with_crf`) on the image read from the sample's
        ``img_path`` when one is set."""
        if self.crf is None:
            return score
        image = read_crf_image(data_sample, owner='AffinityNet test_cfg.crf')
        return self.refine_with_crf(score, image)
