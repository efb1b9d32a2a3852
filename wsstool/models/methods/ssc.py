"""SSC: spatial structure constraints for weakly supervised semantic
segmentation (IEEE TIP)."""
from typing import Dict, List, Optional, Sequence, Union

import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import Tensor, nn

from wsstool.engine.model_wrappers.multi_optim_distributed import \
    optim_wrapper_dict_train_step
from wsstool.registry import MODELS
from wsstool.structures import WSSSDataSample
from ..classifiers import CAMClassifier
from ..utils.superpixel_ops import stack_superpixels

PERCEPTUAL_TARGETS = ('normalized', 'tanh_range')


@MODELS.register_module()
class SSC(CAMClassifier):
    """SSC: a CAM classifier whose class maps must also reconstruct the
    image and agree with its superpixels.

    With ``cam`` the head's raw class maps (B, C, h, w) before pooling
    (SSC's ``x_int``; the logits are their global average):

    * ``loss_cls``: the head's classification loss of the logits (all
      epochs).
    * ``loss_per`` (``PerceptualLoss``): the ``decoder``
      (``CAMReconstructionDecoder``) reconstructs the image from ``cam``,
      and the loss compares the reconstruction with the input (all
      epochs). The reconstruction is resized to the input when their sizes
      differ (input sizes that are not multiples of the output stride).
    * ``loss_align`` (``SuperpixelAlignmentLoss``): from epoch
      ``align_start_epoch`` on, the class maps are pulled towards their
      superpixel-wise means, using the ``superpixel`` map of each data
      sample (``ComputeSuperpixels`` in the pipeline, checked at every
      step; crop padding, marked by ``valid_mask``, is excluded).
    * auxiliary losses (``aux_losses``) receive the view
      ``contrast_view(inputs, feats, cam)`` of the batch.

    Perceptual target (``perceptual_target``): ``'normalized'`` compares the
    tanh output with the ImageNet-normalised input, whose range is not
    (-1, 1): the reference's behaviour, kept for faithfulness;
    ``'tanh_range'`` maps the input to [-1, 1] first (with the data
    preprocessor's ``mean``/``std``, for 0-255 pixels).

    Epochs are counted by the ``TrainEpochHook`` (:meth:`set_epoch`).
    Inference is :class:`CAMClassifier`'s (the decoder is not used).

    Optimisers: with one ``OptimWrapper`` every parameter, the decoder's
    included, is trained by it (mmengine's default training step). With an
    ``OptimWrapperDict`` (``MultiOptimWrapperConstructor``, e.g. SGD for
    ``backbone`` and ``head`` and Adam for ``decoder`` as the reference),
    :meth:`train_step` back-propagates the total loss once and steps every
    wrapper; under DDP the model wrapper must be
    ``MultiOptimDistributedDataParallel``, which runs the same step.

    Args:
        backbone (dict): Backbone config (``DRSResNet`` for SSC).
        head (dict): ``CAMHead``-like config with ``num_classes``.
        decoder (dict): Decoder config; ``in_channels`` defaults to the
            head's ``num_classes``.
        loss_per (dict): Reconstruction loss config, called as
            ``loss(reconstruction, target)``, with a ``loss_name``.
        loss_align (dict): Superpixel alignment loss config, called as
            ``loss(cam, labels, superpixels)``, with a ``loss_name``.
        align_start_epoch (int): First (0-based) epoch with ``loss_align``
            (SSC: 2).
        perceptual_target (str): ``'normalized'`` (reference) or
            ``'tanh_range'``, see above.
        data_preprocessor, train_cfg, test_cfg, aux_losses, init_cfg: As
            :class:`CAMClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 decoder: dict = dict(type='CAMReconstructionDecoder'),
                 loss_per: dict = dict(
                     type='PerceptualLoss',
                     checkpoint='pretrained/vgg19-dcbb9e9d.pth'),
                 loss_align: dict = dict(type='SuperpixelAlignmentLoss'),
                 align_start_epoch: int = 2,
                 perceptual_target: str = 'normalized',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 aux_losses: Optional[Sequence[dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            data_preprocessor=data_preprocessor,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            aux_losses=aux_losses,
            init_cfg=init_cfg)
        name = type(self).__name__
        if not (isinstance(align_start_epoch, int)
                and not isinstance(align_start_epoch, bool)
                and align_start_epoch >= 0):
            raise ValueError(f'{name} align_start_epoch='
                             f'{align_start_epoch!r}; expected an int >= 0.')
        if perceptual_target not in PERCEPTUAL_TARGETS:
            raise ValueError(f'{name} perceptual_target='
                             f'{perceptual_target!r}; expected one of '
                             f'{PERCEPTUAL_TARGETS}.')
        if perceptual_target == 'tanh_range' and not all(
                hasattr(self.data_preprocessor, key)
                for key in ('mean', 'std')):
            raise ValueError(
                f"{name} perceptual_target='tanh_range' maps the input back "
                'to pixels with the mean and std of the data preprocessor, '
                f'but {type(self.data_preprocessor).__name__} has none: give '
                'it mean and std (0-255 pixel range).')
        num_classes = self.head.num_classes
        decoder = dict(decoder)
        if decoder.setdefault('in_channels', num_classes) != num_classes:
            raise ValueError(
                f'{name} decoder in_channels={decoder["in_channels"]} must '
                f'equal the head\'s num_classes ({num_classes}): the decoder '
                'reconstructs the image from the class maps.')
        self.decoder = MODELS.build(decoder)
        self.loss_per = MODELS.build(loss_per)
        self.loss_align = MODELS.build(loss_align)
        self.align_start_epoch = align_start_epoch
        self.perceptual_target = perceptual_target
        self.epoch: Optional[int] = None

    def set_epoch(self, epoch: int) -> None:
        """Record the (0-based) training epoch that starts."""
        self.epoch = epoch

    @property
    def alignment_active(self) -> bool:
        """Whether ``loss_align`` is trained in the current epoch.

        Raises:
            RuntimeError: If the schedule needs the epoch and
                :meth:`set_epoch` was never called.
        """
        if self.align_start_epoch == 0:
            return True
        if self.epoch is None:
            raise RuntimeError(
                f'{type(self).__name__} starts its alignment loss at epoch '
                f'{self.align_start_epoch} and needs the training epoch: add '
                "custom_hooks=[dict(type='TrainEpochHook')] to the config "
                '(or call set_epoch before training).')
        return self.epoch >= self.align_start_epoch

    def reconstruction_target(self, inputs: Tensor) -> Tensor:
        """The (B, 3, H, W) image the decoder must reconstruct from the
        normalised (B, 3, H, W) ``inputs`` (``perceptual_target``)."""
        if self.perceptual_target == 'normalized':
            return inputs
        preprocessor = self.data_preprocessor
        return (inputs * preprocessor.std + preprocessor.mean) / 127.5 - 1.0

    def reconstruct(self, cam: Tensor, size: Sequence[int]) -> Tensor:
        """Decode (B, C, h, w) raw class maps into (B, 3, H, W) images of
        ``size`` (H, W)."""
        images = self.decoder(cam)
        if tuple(images.shape[-2:]) != tuple(size):
            images = F.interpolate(
                images, size=tuple(size), mode='bilinear',
                align_corners=False)
        return images

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """Classification, reconstruction and (from ``align_start_epoch``)
        superpixel alignment losses of (B, 3, H, W) images whose samples
        hold ``gt_label`` (C,) and ``superpixel`` (1, H, W).

        The superpixels are required at every step, so that a pipeline
        without ``ComputeSuperpixels`` fails at the first iteration rather
        than when the alignment starts.
        """
        labels = self._stack_labels(data_samples)
        superpixels = stack_superpixels(data_samples, type(self).__name__)
        feats = self.extract_feat(inputs)
        cam, logits = self.head.cam_and_logits(feats)
        losses = dict(loss_cls=self.head.loss_cls(logits, labels))
        losses[self.loss_per.loss_name] = self.loss_per(
            self.reconstruct(cam, inputs.shape[-2:]),
            self.reconstruction_target(inputs))
        if self.alignment_active:
            losses[self.loss_align.loss_name] = self.loss_align(
                cam, labels, superpixels)
        if self.aux_losses:
            self.add_aux_losses(
                losses, inputs, labels,
                (self.contrast_view(inputs, feats, cam), None))
        return losses

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One training iteration.

        A single ``OptimWrapper`` takes mmengine's default step. With an
        ``OptimWrapperDict``, :func:`optim_wrapper_dict_train_step`
        back-propagates the total loss once and steps every wrapper (the
        step ``MultiOptimDistributedDataParallel`` runs under DDP).
        """
        if not isinstance(optim_wrapper, OptimWrapperDict):
            return super().train_step(data, optim_wrapper)
        return optim_wrapper_dict_train_step(self, data, optim_wrapper)[1]
