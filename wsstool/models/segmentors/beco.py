"""BECO: co-training of two segmentation networks with boundary-enhanced
ClassMix (Rong et al., CVPR 2023)."""
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..utils.beco_keys import is_beco_checkpoint, map_beco_network_keys
from ..utils.class_mix import (boundary_band, class_mix, mix_pair_indices,
                               random_class_mask)
from ..utils.dense_targets import stack_dense_field
from ..utils.unprefixed_keys import (register_key_mapping_hook,
                                     strip_data_parallel_prefix)
from .base import BaseSegmentor

NETWORK_NAMES = ('network1', 'network2')


def beco_checkpoint_to_state_dict(
        checkpoint: Mapping) -> 'OrderedDict[str, Tensor]':
    """The state dict of :class:`BECO` from a released BECO/KTSE/SSC
    checkpoint ``{'net_state_dict': {'network1': sd, 'network2': sd}}``.

    Each network's keys are mapped with
    :func:`~wsstool.models.utils.beco_keys.map_beco_network_keys` and
    prefixed with ``network1.``/``network2.``. Other entries of the file
    (optimiser and scheduler states of ``ckpt_epoch_*.pth``) are not
    weights and are left out.

    Raises:
        KeyError: Naming the network keys that cannot be mapped.
    """
    state_dict = OrderedDict()
    for name in NETWORK_NAMES:
        network = map_beco_network_keys(checkpoint['net_state_dict'][name])
        for key, value in network.items():
            state_dict[f'{name}.{key}'] = value
    return state_dict


def _map_released_checkpoint(
        state_dict: Dict[str, Tensor]) -> Mapping[str, Tensor]:
    """``load_state_dict`` key mapping of :class:`BECO`: released
    checkpoints are converted, other state dicts keep their keys (a
    ``module.`` prefix on every key removed). Returns a new dict."""
    if is_beco_checkpoint(state_dict):
        return beco_checkpoint_to_state_dict(state_dict)
    return strip_data_parallel_prefix(state_dict)


@MODELS.register_module()
class BECO(BaseSegmentor):
    """Two networks co-trained on pseudo labels with boundary-enhanced
    ClassMix (BECO).

    Training (``'loss'``) on a batch of B (even) images x with offline
    pseudo labels y and confidence masks m (``gt_sem_seg``, ``conf_mask``)
    and, when every sample has one, padding masks v (``valid_mask``, False
    on padded pixels; else v = 1 everywhere):

    1. Sample ``i`` is paired with ``i + B/2``, both directions, output
       order ``(0 <- B/2), (B/2 <- 0), (1 <- B/2+1), ...``
       (:func:`~wsstool.models.utils.class_mix.mix_pair_indices`). Each
       output sample is mixed with probability ``mix_prob``; an unmixed one
       is its target with the offline y, m and an empty boundary band b.
    2. Warm-up (epoch < ``warmup_epochs``): ClassMix on the offline labels.
       ``alpha`` = pixels of ``ceil(n/2)`` of the n foreground classes of
       the source's y on its valid pixels; image, y, m and v are pasted
       inside ``alpha``; b = 0.
    3. After the warm-up: both networks, in eval mode and without
       gradients, label the un-mixed batch: ``p = softmax((l1 + l2) / 2)``,
       ``y_on = argmax p`` over all K classes, ``m_on = max p >
       conf_thresh`` (the training modes are restored afterwards).
       ``alpha`` = pixels of ``ceil(n/2)`` of the foreground classes of the
       source's confident online labels on its valid pixels; b = dilation
       minus erosion of ``alpha`` by a ``(2 boundary_size + 1)`` square
       kernel; the image and v are pasted inside ``alpha``, and the labels
       and masks of a mixed sample are ``y_on``/``m_on`` of target and
       source pasted alike.
    4. ``photometric_aug`` (default
       :class:`~wsstool.models.utils.batch_photometric.BatchPhotometricAug`)
       on every de-normalised image the networks train on (after the
       online pass, which sees the un-augmented batch).
    5. Losses, with per-pixel cross-entropy CE (``ignore_index`` pixels
       give 0) and means over all B*H*W pixels::

           loss_ce1  = mean(CE(f1(x), y) * m * v * (1 + boundary_weight * b))
           loss_ce2  = mean(CE(f2(x), y) * m * v * (1 + boundary_weight * b))
           loss_cot1 = mean(CE(f1(x), argmax f2(x)) * (1 - m) * v)
           loss_cot2 = mean(CE(f2(x), argmax f1(x)) * (1 - m) * v)

       (hard, detached peer targets). Padded pixels thus contribute 0 but
       still count in B*H*W. BECO's pipeline (``RandomResizedCrop`` to a
       fixed size) never pads and gives no ``valid_mask``; crops that pad
       (``RandomCropWithPad``) add one, and the data preprocessor pads it
       with False.

    The epoch comes from :meth:`set_epoch`, called by ``TrainEpochHook``
    before every epoch, including the first one after a resume, so the
    model keeps no epoch state of its own.

    Inference: the head logits are the mean of both networks' head logits
    (BECO's averaged ``pre_logits``); test-time augmentation and CRF follow
    ``test_cfg`` (:class:`BaseSegmentor`).

    Released BECO/KTSE/SSC checkpoints (``{'net_state_dict': {'network1':
    ..., 'network2': ...}}``) load directly: a ``load_state_dict`` pre-hook
    converts them with :func:`beco_checkpoint_to_state_dict`.

    Args:
        network (dict): Config of one network (an :class:`EncoderDecoder`),
            built twice; with a pretrained backbone ``init_cfg`` both
            start from the same backbone weights while their heads are
            initialised independently.
        warmup_epochs (int): Epochs of ClassMix on offline labels (official
            BECO 1, KTSE/SSC 2).
        mix_prob (float): Probability of mixing each output sample.
        conf_thresh (float): Online confidence threshold T.
        boundary_size (int): Half-width of the boundary band kernel.
        boundary_weight (float): Extra weight of boundary pixels in the
            pseudo-label losses.
        photometric_aug (dict, optional): Config of a module applied to the
            (B, 3, H, W) de-normalised 0-255 RGB images; None: off.
        ignore_index (int): Label of unlabelled pixels, at least K.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``; its ``mean``/``std`` de-normalise
            the images for ``photometric_aug``.
        test_cfg (dict, optional): See :class:`BaseSegmentor`.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 network: dict,
                 warmup_epochs: int = 1,
                 mix_prob: float = 0.5,
                 conf_thresh: float = 0.95,
                 boundary_size: int = 1,
                 boundary_weight: float = 0.2,
                 photometric_aug: Optional[dict] = dict(
                     type='BatchPhotometricAug'),
                 ignore_index: int = 255,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        _check_range('warmup_epochs', warmup_epochs, 0, None)
        _check_range('mix_prob', mix_prob, 0, 1)
        _check_range('conf_thresh', conf_thresh, 0, 1)
        _check_range('boundary_size', boundary_size, 0, None)
        _check_range('boundary_weight', boundary_weight, 0, None)
        super().__init__(
            data_preprocessor=data_preprocessor,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        self.network1 = MODELS.build(network)
        self.network2 = MODELS.build(network)
        self.ignore_index = self._checked_ignore_index(ignore_index)
        self.warmup_epochs = warmup_epochs
        self.mix_prob = mix_prob
        self.conf_thresh = conf_thresh
        self.boundary_size = boundary_size
        self.boundary_weight = boundary_weight
        self.photometric_aug = None if photometric_aug is None else (
            MODELS.build(photometric_aug))
        self.epoch: Optional[int] = None
        register_key_mapping_hook(self, _map_released_checkpoint)

    @property
    def num_classes(self) -> int:
        """Classes K of the networks, background included."""
        return self.network1.num_classes

    @property
    def networks(self) -> Tuple[nn.Module, nn.Module]:
        """The two co-trained networks."""
        return self.network1, self.network2

    def set_epoch(self, epoch: int) -> None:
        """Set the 0-based training epoch that is about to run (warm-up
        while ``epoch < warmup_epochs``)."""
        self.epoch = epoch

    def head_logits(self, inputs: Tensor) -> Tensor:
        """(B, K, h, w) mean of both networks' head logits of (B, 3, H, W)
        images."""
        return (self.network1.head_logits(inputs) +
                self.network2.head_logits(inputs)) / 2

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """``loss_ce1``, ``loss_ce2``, ``loss_cot1``, ``loss_cot2`` of a
        batch (see the class docstring).

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images, B even.
            data_samples (list[WSSSDataSample]): With ``gt_sem_seg`` and
                ``conf_mask`` (1, H, W), optionally ``valid_mask``
                (1, H, W).

        Raises:
            RuntimeError: If :meth:`set_epoch` was never called.
            ValueError: If B is odd or a sample has no ``conf_mask``.
        """
        if self.epoch is None:
            raise RuntimeError(
                'BECO needs the training epoch to switch from the warm-up: '
                "add custom_hooks=[dict(type='TrainEpochHook')] to the "
                'config (or call set_epoch before training).')
        if inputs.shape[0] % 2:
            raise ValueError(
                'BECO mixes sample i with sample i + B/2, so the batch size '
                f'must be even; got a batch of {inputs.shape[0]}.')
        targets = self._offline_targets(inputs, data_samples)
        if self.epoch < self.warmup_epochs:
            images, labels, conf, valid, band = self._mix_offline(
                inputs, *targets)
        else:
            images, labels, conf, valid, band = self._mix_online(
                inputs, *targets)
        if self.photometric_aug is not None:
            images = self._photometric(images)
        return self._losses(
            self.network1.seg_logits(images),
            self.network2.seg_logits(images), labels, conf, valid, band)

    def _offline_targets(self, inputs: Tensor,
                         data_samples: List[WSSSDataSample]
                         ) -> Tuple[Tensor, Tensor, Tensor]:
        """(B, H, W) offline labels, bool confidence masks and bool
        padding masks (``valid_mask`` when every sample has one, else all
        True)."""
        labels, conf = self.seg_targets(data_samples, inputs.device)
        if conf is None:
            sample = next(s for s in data_samples if 'conf_mask' not in s)
            raise ValueError(
                'BECO trains on confidence masks: every sample needs a '
                f'conf_mask, but {sample.metainfo.get("img_path")!r} has '
                'none (load it with the dataset\'s conf_mask directory).')
        if labels.shape[-2:] != inputs.shape[-2:]:
            raise ValueError(
                f'BECO: label maps {tuple(labels.shape[-2:])} do not match '
                f'the input size {tuple(inputs.shape[-2:])}.')
        if not all('valid_mask' in sample for sample in data_samples):
            return labels, conf, torch.ones_like(conf)
        valid = stack_dense_field(data_samples, 'valid_mask', 'BECO',
                                  'padding mask')
        if valid.shape != labels.shape:
            raise ValueError(
                f'BECO loss: valid_mask maps {tuple(valid.shape[1:])} do not '
                f'match the label maps {tuple(labels.shape[1:])}.')
        return labels, conf, valid.to(device=inputs.device, dtype=torch.bool)

    def _pairs(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Target and source indices of the output samples and which of
        them are mixed ((B,) bool, drawn with ``mix_prob``)."""
        batch = inputs.shape[0]
        targets, sources = mix_pair_indices(batch, inputs.device)
        mixed = torch.rand(batch, device=inputs.device) < self.mix_prob
        return targets, sources, mixed

    def _mix_mask(self, source_labels: Tensor, mixed: Tensor) -> Tensor:
        """(B, H, W) bool ClassMix mask of the mixed samples (empty for the
        others), background never drawn."""
        alpha = random_class_mask(
            source_labels, self.ignore_index, ignore_bg=True)
        return alpha & mixed[:, None, None]

    def _mix_offline(
            self, inputs: Tensor, labels: Tensor, conf: Tensor,
            valid: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Warm-up ClassMix of images, offline labels and masks; empty
        boundary band."""
        targets, sources, mixed = self._pairs(inputs)
        alpha = self._mix_mask(
            labels[sources].masked_fill(~valid[sources], self.ignore_index),
            mixed)
        images, labels, conf, valid = class_mix(
            (inputs[targets], labels[targets], conf[targets], valid[targets]),
            (inputs[sources], labels[sources], conf[sources], valid[sources]),
            alpha)
        return images, labels, conf, valid, torch.zeros_like(conf)

    def _mix_online(
            self, inputs: Tensor, labels: Tensor, conf: Tensor,
            valid: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """ClassMix of the confident online classes with boundary band;
        mixed samples take the online labels and masks, the others keep
        the offline ones."""
        online_labels, online_conf = self.online_targets(inputs)
        targets, sources, mixed = self._pairs(inputs)
        confident = online_labels[sources].masked_fill(
            ~(online_conf[sources] & valid[sources]), self.ignore_index)
        alpha = self._mix_mask(confident, mixed)
        band = boundary_band(alpha, self.boundary_size)
        images, mixed_labels, mixed_conf, valid = class_mix(
            (inputs[targets], online_labels[targets], online_conf[targets],
             valid[targets]),
            (inputs[sources], online_labels[sources], online_conf[sources],
             valid[sources]), alpha)
        keep = mixed[:, None, None]
        labels = torch.where(keep, mixed_labels, labels[targets])
        conf = torch.where(keep, mixed_conf, conf[targets])
        return images, labels, conf, valid, band

    @torch.no_grad()
    def online_targets(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Online labels of both networks in eval mode.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            tuple[Tensor, Tensor]: (B, H, W) int64 arg-max of ``softmax((l1
            + l2) / 2)`` over all classes and (B, H, W) bool ``max prob >
            conf_thresh``.
        """
        modes = [network.training for network in self.networks]
        for network in self.networks:
            network.eval()
        try:
            logits = self.seg_logits(inputs)
        finally:
            for network, mode in zip(self.networks, modes):
                network.train(mode)
        confidence, labels = logits.float().softmax(dim=1).max(dim=1)
        return labels, confidence > self.conf_thresh

    def _photometric(self, images: Tensor) -> Tensor:
        """``photometric_aug`` on the images de-normalised with the data
        preprocessor's ``mean``/``std`` (if it normalises), normalised
        again."""
        mean = getattr(self.data_preprocessor, 'mean', None)
        if mean is None:
            return self.photometric_aug(images)
        std = self.data_preprocessor.std
        return (self.photometric_aug(images * std + mean) - mean) / std

    def _losses(self, logits1: Tensor, logits2: Tensor, labels: Tensor,
                conf: Tensor, valid: Tensor,
                band: Tensor) -> Dict[str, Tensor]:
        """The four BECO losses of (B, K, H, W) logits, means over all
        pixels (padding, ``valid`` False, weighs 0)."""
        conf, valid = conf.float(), valid.float()
        label_weight = conf * valid * (1 + self.boundary_weight * band.float())
        peer_weight = (1 - conf) * valid
        peer1 = logits2.detach().argmax(dim=1)
        peer2 = logits1.detach().argmax(dim=1)
        return dict(
            loss_ce1=(self._pixel_ce(logits1, labels) * label_weight).mean(),
            loss_ce2=(self._pixel_ce(logits2, labels) * label_weight).mean(),
            loss_cot1=(self._pixel_ce(logits1, peer1) * peer_weight).mean(),
            loss_cot2=(self._pixel_ce(logits2, peer2) * peer_weight).mean())

    def _pixel_ce(self, logits: Tensor, labels: Tensor) -> Tensor:
        """(B, H, W) cross-entropy, 0 on ``ignore_index`` pixels."""
        return F.cross_entropy(
            logits, labels, ignore_index=self.ignore_index, reduction='none')


def _check_range(name: str, value: float, low: float,
                 high: Optional[float]) -> None:
    """Raise a ValueError naming a BECO argument outside [low, high]."""
    if value < low or (high is not None and value > high):
        bounds = f'[{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'BECO {name}={value!r}; expected {bounds}.')
