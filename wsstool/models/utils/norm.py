"""Batch-norm helpers shared by the backbones."""
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_bn_eval(module: nn.Module) -> None:
    """Put every BatchNorm layer of ``module`` in eval mode, so training uses
    and never updates the running statistics (``norm_eval``)."""
    for layer in module.modules():
        if isinstance(layer, _BatchNorm):
            layer.eval()
