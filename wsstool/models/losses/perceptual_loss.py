"""VGG-19 perceptual loss between a reconstruction and its target image."""
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import vgg as tv_vgg

from wsstool.registry import MODELS
from ..utils.state_dict import (check_state_dict_shapes,
                                read_pretrained_state_dict)

# Indices in torchvision's ``vgg19().features`` of relu1_1, relu2_1,
# relu3_1, relu4_1 and relu5_1.
VGG19_RELU_X_1 = (1, 6, 11, 20, 29)


def _vgg19_features() -> nn.Sequential:
    """torchvision's VGG-19 ``features`` up to relu5_1 (randomly
    initialised; module indices as in ``vgg19().features``)."""
    return tv_vgg.make_layers(tv_vgg.cfgs['E'])[:VGG19_RELU_X_1[-1] + 1]


@MODELS.register_module()
class PerceptualLoss(nn.Module):
    """``loss_weight * sum_l w_l * L1(VGG_l(pred), VGG_l(target))``.

    ``VGG_l`` are the relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1
    features of an ImageNet VGG-19 (torchvision layout) with weights
    ``layer_weights`` (SSC: 1/32, 1/16, 1/8, 1/4, 1); the L1 distances are
    means over all elements and the target features carry no gradient.
    Inputs are fed to the VGG as they are (SSC: a tanh reconstruction
    against the ImageNet-normalised image).

    The VGG is built once, frozen and always in eval mode. It is not a
    submodule: it never appears in ``state_dict()``, ``parameters()``
    (optimisers, DDP) or checkpoints, yet follows the loss through
    ``.to()``/``.cuda()``/``.half()``. Its weights are read from the
    ``checkpoint`` file by :meth:`init_weights` (called by the runner before
    training) or at the first call; nothing is downloaded.

    Fallback: with ``checkpoint=None`` there is no VGG and the loss is
    ``loss_weight * L1(pred, target)`` in pixel space, which keeps the
    reconstruction objective well defined where no ImageNet VGG weights
    exist (e.g. networks trained from scratch on SynthVOC). It is not the
    SSC perceptual loss.

    Args:
        checkpoint (str, optional): torchvision VGG-19 state dict file
            (``vgg19-dcbb9e9d.pth``; only its ``features.*`` up to relu5_1
            are read; a file nested under ``'state_dict'`` works too), or
            None for the pixel-space fallback.
        layer_weights (Sequence[float]): Weights of relu1_1 ... relu5_1.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the model's loss dict.
            Defaults to ``'loss_per'``.
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 layer_weights: Sequence[float] = (1 / 32, 1 / 16, 1 / 8,
                                                   1 / 4, 1.0),
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_per') -> None:
        super().__init__()
        if len(layer_weights) != len(VGG19_RELU_X_1):
            raise ValueError(
                f'{type(self).__name__} layer_weights={tuple(layer_weights)}:'
                ' expected one weight per layer relu1_1 ... relu5_1 (5).')
        self.checkpoint = checkpoint
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.loss_weight = loss_weight
        self.loss_name = loss_name
        self.weights_loaded = False
        vgg = None
        if checkpoint is not None:
            vgg = _vgg19_features().eval().requires_grad_(False)
        # Plain attribute, not a submodule (see the class docstring).
        object.__setattr__(self, 'vgg', vgg)

    def _apply(self, fn: Callable, recurse: bool = True) -> 'PerceptualLoss':
        """Apply ``fn`` (device/dtype moves) to the VGG as well."""
        super()._apply(fn, recurse)
        if self.vgg is not None:
            self.vgg._apply(fn)
        return self

    def init_weights(self) -> None:
        """Load the VGG weights from ``checkpoint`` (no-op for the pixel
        fallback or when already loaded)."""
        if self.vgg is None or self.weights_loaded:
            return
        state_dict = read_pretrained_state_dict(
            self.checkpoint, type(self).__name__, prefix='features.')
        num_layers = len(self.vgg)
        state_dict = {
            key: value
            for key, value in state_dict.items()
            if not key.split('.')[0].isdigit()
            or int(key.split('.')[0]) < num_layers
        }
        check_state_dict_shapes(self.vgg, state_dict, self.checkpoint)
        missing, unexpected = self.vgg.load_state_dict(
            state_dict, strict=False)
        if missing or unexpected:
            raise KeyError(
                f'Checkpoint {self.checkpoint} does not hold a torchvision '
                f'VGG-19 (features.0 ... features.28): missing keys '
                f'{missing}, unexpected keys {unexpected}.')
        self.weights_loaded = True

    def vgg_features(self, images: Tensor) -> List[Tensor]:
        """relu1_1 ... relu5_1 features of (B, 3, H, W) images."""
        feats = []
        x = images
        for index, layer in enumerate(self.vgg):
            x = layer(x)
            if index in VGG19_RELU_X_1:
                feats.append(x)
        return feats

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            pred (Tensor): (B, 3, H, W) reconstructed images.
            target (Tensor): (B, 3, H, W) images to reconstruct (no
                gradient flows into them).

        Returns:
            Tensor: scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f'{type(self).__name__}: pred {tuple(pred.shape)} and target '
                f'{tuple(target.shape)} must have the same (B, 3, H, W) '
                'shape.')
        target = target.detach()
        if self.vgg is None:
            return self.loss_weight * F.l1_loss(pred, target)
        self.init_weights()
        with torch.no_grad():
            target_feats = self.vgg_features(target)
        loss = sum(
            weight * F.l1_loss(feat, target_feat)
            for weight, feat, target_feat in zip(
                self.layer_weights, self.vgg_features(pred), target_feats))
        return self.loss_weight * loss
