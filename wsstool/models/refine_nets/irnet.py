"""IRNet: inter-pixel relation network refining CAMs by a random walk."""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS, REFINERS
from wsstool.structures import WSSSDataSample
from ..heads.irn_branches import upsample_and_crop
from ..refiners.random_walk import RandomWalk
from ..utils.cfg_defaults import merge_cfg_defaults
from ..utils.path_index import (PathIndex, affinity_pair_labels,
                                boundary_affinities, subsample_label)
from ..utils.unprefixed_keys import strip_data_parallel_prefix
from .base import BaseRefineNet

OUTPUT_STRIDE = 4
_TRAIN_CFG_DEFAULTS = dict(radius=10, label_stride=OUTPUT_STRIDE)
_TEST_CFG_DEFAULTS = dict(
    radius=5,
    flip=True,
    pad_to=None,
    bg_score=0.25,
    random_walk=dict(type='RandomWalk', beta=10, num_steps=256,
                     mode='sparse'))

# Released IRN checkpoints (``res50_irn.pth``): tensor name patterns and
# their names in IRNet. Every other key of such a checkpoint is an alias of
# these tensors (``stage*``, ``backbone.*``, ``edge_layers.*``,
# ``dp_layers.*``), a path index (``path_indices*``, ``ind_from``,
# ``ind_to``) or mean-shift statistics IRNet does not use.
_IRN_KEY_MAP = (
    (r'resnet50\.(.+)', r'backbone.\1'),
    (r'fc_edge([1-5])\.([01]\.\w+)',
     lambda m: f'boundary_branch.lateral_convs.{int(m[1]) - 1}.{m[2]}'),
    (r'fc_edge6\.(\w+)', r'boundary_branch.conv_boundary.\1'),
    (r'fc_dp([1-5])\.([01]\.\w+)',
     lambda m: f'displacement_branch.lateral_convs.{int(m[1]) - 1}.{m[2]}'),
    (r'fc_dp6\.([01]\.\w+)', r'displacement_branch.deep_fuse.\1'),
    (r'fc_dp7\.([01]\.\w+)', r'displacement_branch.fuse.\1'),
    (r'fc_dp7\.3\.weight', 'displacement_branch.conv_disp.weight'),
    (r'fc_dp7\.4\.running_mean', 'displacement_branch.mean_shift'),
)
_IRN_SIGNATURE = 'fc_edge6.weight'


def map_irn_keys(state_dict: Dict[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Rename the tensors of a released IRN checkpoint to IRNet's keys.

    A ``module.`` prefix on every key (``DataParallel``) is removed first;
    keys that match none of the IRN patterns are dropped (aliases and path
    indices). Checkpoints without IRN's ``fc_edge6.weight`` keep their
    keys (less the ``module.`` prefix).

    Args:
        state_dict (dict[str, Tensor]): Checkpoint tensors.

    Returns:
        OrderedDict[str, Tensor]: Tensors under IRNet's names.
    """
    state_dict = strip_data_parallel_prefix(state_dict)
    if _IRN_SIGNATURE not in state_dict:
        return state_dict
    mapped = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in _IRN_KEY_MAP:
            match = re.fullmatch(pattern, key)
            if match:
                mapped[match.expand(replacement) if isinstance(
                    replacement, str) else replacement(match)] = value
                break
    return mapped


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_radius(name: str, radius) -> None:
    if isinstance(radius, bool) or not isinstance(
            radius, (int, float)) or radius <= 1:
        raise ValueError(f'IRNet {name}.radius must be a number > 1, got '
                         f'{radius!r}.')


def _parse_train_cfg(train_cfg: Optional[dict]) -> dict:
    cfg = merge_cfg_defaults(train_cfg, _TRAIN_CFG_DEFAULTS,
                             'IRNet train_cfg')
    _check_radius('train_cfg', cfg['radius'])
    if not _is_positive_int(cfg['label_stride']):
        raise ValueError('IRNet train_cfg.label_stride must be a positive '
                         f'integer, got {cfg["label_stride"]!r}.')
    return cfg


def _parse_test_cfg(test_cfg: Optional[dict]) -> dict:
    cfg = merge_cfg_defaults(test_cfg, _TEST_CFG_DEFAULTS, 'IRNet test_cfg')
    _check_radius('test_cfg', cfg['radius'])
    if not isinstance(cfg['flip'], bool):
        raise ValueError('IRNet test_cfg.flip must be True or False, got '
                         f'{cfg["flip"]!r}.')
    if cfg['pad_to'] is not None and not _is_positive_int(cfg['pad_to']):
        raise ValueError('IRNet test_cfg.pad_to must be None or a positive '
                         f'integer, got {cfg["pad_to"]!r}.')
    if isinstance(cfg['bg_score'], bool) or not isinstance(
            cfg['bg_score'], (int, float)):
        raise ValueError('IRNet test_cfg.bg_score must be a number, got '
                         f'{cfg["bg_score"]!r}.')
    if not isinstance(cfg['random_walk'], dict):
        raise ValueError('IRNet test_cfg.random_walk must be a RandomWalk '
                         f'config dict, got {cfg["random_walk"]!r}.')
    return cfg


@MODELS.register_module()
class IRNet(BaseRefineNet):
    """IRN's inter-pixel relation network and its random-walk refinement.

    A frozen backbone (every feature detached, kept in eval mode) feeds a
    class-boundary branch and a displacement branch that predict at stride
    4. Training learns the boundaries from the affinities a_ij = 1 - max of
    the boundary map B on the path i -> j, and the displacements, against
    the pair labels of a relation label map (IRN's loss
    (L_pos + L_neg) / 2 + (L_dp_fg + L_dp_bg) / 2). Inference propagates
    CAMs over the affinities of B by a random walk
    (:meth:`propagate_cams`).

    Modes of :meth:`forward`:

    * ``'loss'``: ``loss_aff_bg``, ``loss_aff_fg``, ``loss_aff_neg``
      (:class:`AffinityLoss`) and ``loss_dp_fg``, ``loss_dp_bg``
      (:class:`DisplacementLoss`); the relation labels are the
      ``gt_sem_seg`` (1, H, W) of the samples (0 = background, c + 1 =
      class c, 255 = unsure).
    * ``'tensor'``: boundary logits (B, 1, h4, w4) and displacements
      (B, 2, h4, w4).
    * ``'predict'`` (batch of 1): from the sample's ``pred_cam`` (``cam``
      (K, H, W) at the input's size, ``class_ids`` (K,)) sets
      ``pred_scores = BaseDataElement(score=(K + 1, H, W) float32,
      class_ids=(K,))`` and ``pred_sem_seg = PixelData(data=(1, H, W)
      int64)``, 0 = background, c + 1 = class c.

    Released IRN checkpoints (``res50_irn.pth`` layout) load directly:
    their keys are mapped on loading (:func:`map_irn_keys`). For IRN's
    learning rates (displacement branch x10) give the optimiser
    ``paramwise_cfg=dict(custom_keys={'displacement_branch':
    dict(lr_mult=10.)})``.

    Args:
        backbone (dict): ResNet config returning the stem and the four
            stages, e.g. ``frozen_stages=4, norm_eval=True,
            out_indices=(-1, 0, 1, 2, 3)``.
        boundary_branch (dict): :class:`BoundaryBranch` config.
        displacement_branch (dict): :class:`DisplacementBranch` config.
        loss_affinity (dict): :class:`AffinityLoss` config.
        loss_displacement (dict): :class:`DisplacementLoss` config.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        train_cfg (dict, optional): ``radius`` of the training pairs (10)
            and ``label_stride`` (4), the subsampling of the relation labels
            to the branches' output size.
        test_cfg (dict, optional): ``radius`` of the walk's neighbourhood
            (5); ``flip`` (True): average the boundary logits of the image
            and of its h-flip; ``pad_to`` (None): zero-pad the input to a
            ``pad_to`` x ``pad_to`` square before the network, as IRN does
            with 512 (None, BECO's choice, runs at the image size);
            ``bg_score`` (0.25): the constant background score;
            ``random_walk``: :class:`RandomWalk` config (beta 10, 256 steps,
            sparse).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 boundary_branch: dict,
                 displacement_branch: dict,
                 loss_affinity: dict = dict(type='AffinityLoss'),
                 loss_displacement: dict = dict(type='DisplacementLoss'),
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        train_cfg = _parse_train_cfg(train_cfg)
        test_cfg = _parse_test_cfg(test_cfg)
        super().__init__(
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            map_keys=map_irn_keys)
        self.backbone = MODELS.build(backbone)
        self.backbone.requires_grad_(False)
        self.boundary_branch = MODELS.build(boundary_branch)
        self.displacement_branch = MODELS.build(displacement_branch)
        self.loss_affinity = MODELS.build(loss_affinity)
        self.loss_displacement = MODELS.build(loss_displacement)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.train_path_index = PathIndex(self.train_cfg['radius'])
        self.test_path_index = PathIndex(self.test_cfg['radius'])
        self.random_walk: RandomWalk = REFINERS.build(
            self.test_cfg['random_walk'])

    def train(self, mode: bool = True) -> 'IRNet':
        """Set train mode; the backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Detached backbone features of (B, 3, H, W) images."""
        return tuple(feature.detach() for feature in self.backbone(inputs))

    def branch_outputs(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Boundary logits (B, 1, h4, w4) and displacements (B, 2, h4, w4)
        of (B, 3, H, W) images."""
        features = self.extract_feat(inputs)
        return (self.boundary_branch(features),
                self.displacement_branch(features))

    def _forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Boundary logits and displacements (``'tensor'`` mode)."""
        return self.branch_outputs(inputs)

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """Affinity and displacement losses of (B, 3, H, W) images against
        their relation labels ``gt_sem_seg`` (1, H, W)."""
        labels = self._stack_relation_labels(data_samples, inputs.device)
        labels = subsample_label(labels, self.train_cfg['label_stride'])
        boundary_logits, displacement = self.branch_outputs(inputs)
        if labels.shape[-2:] != boundary_logits.shape[-2:]:
            raise ValueError(
                f'IRNet: relation labels subsampled by train_cfg.label_stride'
                f'={self.train_cfg["label_stride"]} are '
                f'{tuple(labels.shape[-2:])}, but the branches predict '
                f'{tuple(boundary_logits.shape[-2:])}; use the stride of '
                'the branch outputs.')
        path_index = self.train_path_index
        bg_pos, fg_pos, neg = affinity_pair_labels(
            labels, path_index.directions, path_index.margin)
        affinity = boundary_affinities(boundary_logits.sigmoid()[:, 0],
                                       path_index, region='source_crop')
        losses = self.loss_affinity(affinity, bg_pos, fg_pos, neg)
        losses.update(
            self.loss_displacement(displacement, bg_pos, fg_pos,
                                   path_index.directions, path_index.margin))
        return losses

    def boundary_map(self, inputs: Tensor) -> Tensor:
        """Class-boundary probabilities of one image.

        With ``test_cfg.flip`` the image and its h-flip run as a batch and
        B = sigmoid(logit / 2 + flip(flipped logit) / 2); with
        ``test_cfg.pad_to`` the input is first zero-padded at the bottom and
        right to that square size and the outputs are cropped back.

        Args:
            inputs (Tensor): (1, 3, H, W) normalised image.

        Returns:
            Tensor: (h4, w4) map in [0, 1], h4 = (H - 1) // 4 + 1.
        """
        if inputs.dim() != 4 or inputs.shape[0] != 1:
            raise ValueError('IRNet.boundary_map needs one image (1, 3, H, '
                             f'W), got {tuple(inputs.shape)}.')
        height, width = inputs.shape[-2:]
        size = ((height - 1) // OUTPUT_STRIDE + 1,
                (width - 1) // OUTPUT_STRIDE + 1)
        if self.test_cfg['flip']:
            inputs = torch.cat([inputs, inputs.flip(-1)])
        pad_to = self.test_cfg['pad_to']
        if pad_to is not None:
            if height > pad_to or width > pad_to:
                raise ValueError(
                    f'IRNet test_cfg.pad_to={pad_to} is smaller than the '
                    f'{height}x{width} image; use a larger pad_to or None.')
            inputs = F.pad(inputs, (0, pad_to - width, 0, pad_to - height))
        logits = self.boundary_branch(self.extract_feat(inputs))
        logits = logits[:, 0, :size[0], :size[1]]
        if self.test_cfg['flip']:
            logits = logits[:1] / 2 + logits[1:].flip(-1) / 2
        return logits[0].sigmoid()

    def propagate_cams(self, inputs: Tensor, cams: Tensor) -> Tensor:
        """Refine the CAMs of one image by a random walk on its boundaries.

        The CAMs are resized (bilinear) to the boundary map's stride-4
        size: toolbox CAM files hold full-resolution maps where IRN's dict
        holds CAMs computed from stride-4 features. Then x = cam4 * (1 - B)
        walks over the affinities of B within ``test_cfg.radius``
        (``'full'`` region: pairs leaving the image have affinity 0), the
        result is upsampled x4 (bilinear), cropped to (H, W), divided by its
        global maximum over classes and pixels, and the constant
        ``test_cfg.bg_score`` is prepended as the background channel.

        Args:
            inputs (Tensor): (1, 3, H, W) normalised image.
            cams (Tensor): (K, H, W) non-negative CAMs of the K classes.

        Returns:
            Tensor: (K + 1, H, W) float32 scores on the device of
            ``inputs``, channel 0 = background.
        """
        size = tuple(inputs.shape[-2:])
        if cams.dim() != 3 or tuple(cams.shape[-2:]) != size:
            raise ValueError(f'IRNet.propagate_cams needs cams (K, {size[0]}'
                             f', {size[1]}) at the input size, got '
                             f'{tuple(cams.shape)}.')
        cams = cams.to(device=inputs.device, dtype=torch.float32)
        background = cams.new_full((1, ) + size, self.test_cfg['bg_score'])
        if len(cams) == 0:
            return background
        boundary = self.boundary_map(inputs)
        cams = F.interpolate(cams[None], size=boundary.shape,
                             mode='bilinear', align_corners=False)[0]
        path_index = self.test_path_index
        affinity = boundary_affinities(boundary[None], path_index,
                                       region='full')[0]
        walked = self.random_walk(cams * (1 - boundary), affinity,
                                  path_index.directions)
        walked = upsample_and_crop(walked[None], size)[0]
        peak = walked.max().clamp(min=torch.finfo(walked.dtype).tiny)
        return torch.cat([background, walked / peak])
