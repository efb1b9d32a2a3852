"""Backbone + decode head segmentation network (DeepLab family)."""
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..utils.beco_keys import is_beco_checkpoint, map_beco_network_keys
from ..utils.unprefixed_keys import (register_key_mapping_hook,
                                     strip_data_parallel_prefix)
from .base import BaseSegmentor

CONF_MASK_MODES = (None, 'ignore')
# key prefixes of one network of a released BECO/KTSE/SSC checkpoint
BECO_NETWORK_KEY_PREFIXES = ('backbone.stem_layer.', 'aspp.')
# key prefixes of the two networks of a BECO model
BECO_MODEL_KEY_PREFIXES = ('network1.', 'network2.')


def _holds_two_networks(state_dict: Mapping) -> bool:
    """Whether ``state_dict`` is a released BECO checkpoint or a state dict
    of wsstool's ``BECO`` (keys ``network1.*`` and ``network2.*``)."""
    return is_beco_checkpoint(state_dict) or all(
        any(key.startswith(prefix) for key in state_dict)
        for prefix in BECO_MODEL_KEY_PREFIXES)


def map_reference_network_keys(
        state_dict: Dict[str, Tensor]) -> Mapping[str, Tensor]:
    """Rename the keys of one network of a released BECO/KTSE/SSC
    checkpoint (``backbone.stem_layer.*``, ``aspp.*``, ...) to
    :class:`EncoderDecoder` names with
    :func:`~wsstool.models.utils.beco_keys.map_beco_network_keys`; other
    state dicts keep their keys (a ``module.`` prefix on every key
    removed). Returns a new dict.

    Raises:
        ValueError: If ``state_dict`` holds the two networks of a BECO
            model (a released ``{'net_state_dict': {'network1': ...,
            'network2': ...}}`` checkpoint or ``network1.*``/``network2.*``
            keys).
    """
    stripped = strip_data_parallel_prefix(state_dict)
    if _holds_two_networks(stripped):
        raise ValueError(
            'EncoderDecoder cannot load a BECO checkpoint: a BECO checkpoint '
            'holds two networks (network1, network2); use a BECO config '
            "(model type='BECO'), or load one network: "
            "ckpt['net_state_dict']['network1'] of a released checkpoint, or "
            "the 'network1.' entries of a BECO state dict without that "
            'prefix.')
    if not any(
            key.startswith(BECO_NETWORK_KEY_PREFIXES) for key in stripped):
        return stripped
    return map_beco_network_keys(stripped)


@MODELS.register_module()
class EncoderDecoder(BaseSegmentor):
    """A backbone and a decode head whose logits are upsampled to the input
    size (DeepLabV2, DeepLabV3+).

    ``'loss'`` mode: per-pixel cross-entropy of the upsampled logits against
    the samples' ``gt_sem_seg``, averaged over the pixels that are not
    ``ignore_index`` (0, with a graph, when every pixel is ignored). With
    ``conf_mask_mode='ignore'`` the pixels outside each sample's
    ``conf_mask`` are ignored too.

    One network of a released BECO/KTSE/SSC checkpoint
    (``ckpt['net_state_dict']['network1']``) loads directly: its keys are
    mapped to this model's names on loading (see
    :func:`map_reference_network_keys`); a checkpoint of both BECO networks
    is refused with an error that points to the BECO config.

    Args:
        backbone (dict): Backbone config, returns a tuple of features.
        decode_head (dict): Head config: maps the features to (B, K, h, w)
            logits and has ``num_classes`` K.
        ignore_index (int): Label of unlabelled pixels, at least K.
            Defaults to 255.
        conf_mask_mode (str, optional): None (plain cross-entropy) or
            ``'ignore'`` (non-confident pixels are ignored; every sample
            needs a ``conf_mask``).
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        test_cfg (dict, optional): See :class:`BaseSegmentor`.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 ignore_index: int = 255,
                 conf_mask_mode: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if conf_mask_mode not in CONF_MASK_MODES:
            raise ValueError(f'EncoderDecoder conf_mask_mode='
                             f'{conf_mask_mode!r}; expected one of '
                             f'{CONF_MASK_MODES}.')
        super().__init__(
            data_preprocessor=data_preprocessor,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        if not isinstance(getattr(self.decode_head, 'num_classes', None), int):
            raise ValueError(
                f'EncoderDecoder decode_head {type(self.decode_head).__name__}'
                ' needs an int attribute num_classes.')
        self.ignore_index = self._checked_ignore_index(ignore_index)
        self.conf_mask_mode = conf_mask_mode
        register_key_mapping_hook(self, map_reference_network_keys)

    @property
    def num_classes(self) -> int:
        """Classes K of the decode head, background included."""
        return self.decode_head.num_classes

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone features of (B, 3, H, W) images."""
        return self.backbone(inputs)

    def head_logits(self, inputs: Tensor) -> Tensor:
        """(B, K, h, w) decode-head logits of (B, 3, H, W) images (h, w:
        the head's grid, e.g. H/8 for DeepLabV2, H/4 for DeepLabV3+)."""
        return self.decode_head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """``loss_ce``: cross-entropy of (B, 3, H, W) images against their
        ``gt_sem_seg`` (1, H, W), mean over the pixels not ignored."""
        labels, conf = self.seg_targets(data_samples, inputs.device)
        if self.conf_mask_mode == 'ignore':
            if conf is None:
                sample = next(s for s in data_samples if 'conf_mask' not in s)
                raise ValueError(
                    "EncoderDecoder conf_mask_mode='ignore' needs a conf_mask "
                    'on every sample; '
                    f'{sample.metainfo.get("img_path")!r} has none.')
            labels = labels.masked_fill(~conf, self.ignore_index)
        logits = self.seg_logits(inputs)
        if labels.shape[-2:] != logits.shape[-2:]:
            raise ValueError(
                f'EncoderDecoder: label maps {tuple(labels.shape[-2:])} do '
                f'not match the input size {tuple(logits.shape[-2:])}.')
        pixel_loss = F.cross_entropy(
            logits, labels, ignore_index=self.ignore_index, reduction='none')
        num_valid = (labels != self.ignore_index).sum().clamp_min(1)
        return dict(loss_ce=pixel_loss.sum() / num_valid)
