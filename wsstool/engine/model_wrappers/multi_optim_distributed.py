"""Training steps with an ``OptimWrapperDict`` (one optimiser per part of
the model), in one process or under DDP."""
from typing import Dict, Tuple, Union

from mmengine.model import (MMDistributedDataParallel,
                            detect_anomalous_params, is_model_wrapper)
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from torch import Tensor, nn

from wsstool.registry import MODEL_WRAPPERS


def check_shared_backward(optim_wrapper: OptimWrapperDict,
                          owner: str) -> None:
    """Reject the wrappers of ``optim_wrapper`` that one backward pass
    shared by every wrapper cannot serve.

    Args:
        optim_wrapper (OptimWrapperDict): The wrappers of one model.
        owner (str): The model's name, used in errors.

    Raises:
        TypeError: If a wrapper is an ``AmpOptimWrapper`` (each would
            unscale the one shared backward pass with its own loss scale).
        ValueError: If a wrapper accumulates gradients
            (``accumulative_counts`` > 1).
    """
    for key, wrapper in optim_wrapper.items():
        if isinstance(wrapper, AmpOptimWrapper):
            raise TypeError(
                f'{owner} trains its OptimWrapperDict with one backward '
                f'pass, which an AmpOptimWrapper ({key!r}) cannot share '
                'with other wrappers; for mixed precision use a single '
                'optim_wrapper (one optimiser for all parameters).')
        # mmengine exposes no public getter for the accumulation count
        if getattr(wrapper, '_accumulative_counts', 1) != 1:
            raise ValueError(
                f'{owner} steps every wrapper of its OptimWrapperDict at '
                f'every iteration; {key!r} has accumulative_counts > 1, '
                'which is not supported with several optimisers.')


def optim_wrapper_dict_train_step(
        model: nn.Module, data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapperDict) -> Tuple[Tensor, Dict[str, Tensor]]:
    """One training iteration that updates every wrapper of a dict.

    The batch is preprocessed and the losses are computed through
    ``model`` (through the DDP wrapper, if any, so that the backward pass
    all-reduces the gradients), the total loss is back-propagated once,
    then every wrapper steps (with its own gradient clipping, if
    configured) and all gradients are cleared.

    Args:
        model (nn.Module): A ``BaseModel``, or a DDP-style wrapper of one
            (``model.module``).
        data (dict | tuple | list): A batch from the dataloader.
        optim_wrapper (OptimWrapperDict): The wrappers of the model's parts
            (see :func:`check_shared_backward` for what they may not be).

    Returns:
        tuple[Tensor, dict[str, Tensor]]: The total loss and the log
        variables.
    """
    module = model.module if is_model_wrapper(model) else model
    check_shared_backward(optim_wrapper, type(module).__name__)
    data = module.data_preprocessor(data, True)
    losses = model._run_forward(data, mode='loss')
    parsed_loss, log_vars = module.parse_losses(losses)
    parsed_loss.backward()
    for wrapper in optim_wrapper.values():
        wrapper.step()
    optim_wrapper.zero_grad()
    return parsed_loss, log_vars


@MODEL_WRAPPERS.register_module()
class MultiOptimDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also trains with an
    ``OptimWrapperDict`` (``MultiOptimWrapperConstructor``).

    mmengine's DDP training step calls ``optim_context`` and
    ``update_params`` of its optimiser wrapper, which an
    ``OptimWrapperDict`` does not have. With a dict, this wrapper runs
    :func:`optim_wrapper_dict_train_step` instead: the forward pass goes
    through DDP, so the one backward pass synchronises the gradients of
    every process before each wrapper steps. With a single
    ``OptimWrapper`` it is ``MMDistributedDataParallel``.

    Use it from a config (the ``wsstool.`` scope lets mmengine's runner
    find it; ``tools/train.py`` sets ``device_ids=None`` on CPU)::

        model_wrapper_cfg = dict(
            type='wsstool.MultiOptimDistributedDataParallel',
            broadcast_buffers=False, find_unused_parameters=False)

    Args:
        module (nn.Module): The model (a ``BaseModel``).
        detect_anomalous_params (bool): As ``MMDistributedDataParallel``.
        **kwargs: Arguments of ``DistributedDataParallel``.
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One training iteration with ``optim_wrapper``, a single wrapper
        or an ``OptimWrapperDict``; returns the log variables."""
        if not isinstance(optim_wrapper, OptimWrapperDict):
            return super().train_step(data, optim_wrapper)
        parsed_loss, log_vars = optim_wrapper_dict_train_step(
            self, data, optim_wrapper)
        if self.detect_anomalous_params:
            detect_anomalous_params(parsed_loss, model=self)
        return log_vars
