"""One optimiser wrapper per submodule of a model, as an
``OptimWrapperDict``."""
from typing import Optional

from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from wsstool.registry import OPTIM_WRAPPER_CONSTRUCTORS
from ..model_wrappers import MultiOptimDistributedDataParallel


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` with one wrapper per named submodule.

    Each key of the config names a submodule of the model (dotted paths
    allowed) and holds an ordinary single-wrapper config (``type``,
    ``optimizer``, optional ``paramwise_cfg``, ``clip_grad`` ...), built by
    mmengine's ``DefaultOptimWrapperConstructor`` over that submodule's
    parameters: the ``custom_keys`` of a wrapper's ``paramwise_cfg`` match
    parameter names relative to that submodule (``'layer4'``, not
    ``'backbone.layer4'``). The wrappers are keyed like the config, so
    ``param_scheduler`` may be a dict with the same keys (a plain list is
    applied to every wrapper). Example (SSC)::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            backbone=dict(optimizer=dict(type='SGD', lr=0.1)),
            head=dict(optimizer=dict(type='SGD', lr=1.0)),
            decoder=dict(optimizer=dict(type='Adam', lr=5e-4)))

    Every trainable parameter of the model must belong to exactly one of
    the submodules, so that none is silently left untrained or updated
    twice.

    The model's ``train_step`` must handle the dict (``SSC`` does: one
    backward pass, then every wrapper steps). Under DDP, mmengine's
    ``MMDistributedDataParallel`` cannot (it calls ``update_params`` of the
    dict): wrap the model with ``MultiOptimDistributedDataParallel``::

        model_wrapper_cfg = dict(
            type='wsstool.MultiOptimDistributedDataParallel',
            broadcast_buffers=False)

    Args:
        optim_wrapper_cfg (dict): ``{submodule name: wrapper config}``.
        paramwise_cfg (dict, optional): Not accepted at this level (give it
            inside each wrapper config); present for the constructor
            interface.

    Raises:
        ValueError: If a value is not a wrapper config with an
            ``optimizer``, or ``paramwise_cfg`` is given at the top level;
            when called, if the model is wrapped by another model wrapper
            than ``MultiOptimDistributedDataParallel``.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        name = type(self).__name__
        if paramwise_cfg is not None:
            raise ValueError(f'{name}: give paramwise_cfg inside the config '
                             'of each wrapper, not at the top level.')
        for key, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ValueError(
                    f'{name}: optim_wrapper.{key} must be a wrapper config '
                    f'with an optimizer, got {cfg!r}. Every key of '
                    'optim_wrapper names a submodule (e.g. backbone=dict('
                    'optimizer=dict(type=\'SGD\', lr=0.1))); options of the '
                    'whole dict such as type=\'AmpOptimWrapper\' (set by '
                    '--amp) do not apply to it.')
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model`` (unwrapped from
        ``MultiOptimDistributedDataParallel`` first)."""
        if is_model_wrapper(model):
            self._check_wrapper(model)
            model = model.module
        self._check_partition(model)
        wrappers = {}
        for key, cfg in self.optim_wrapper_cfg.items():
            cfg = dict(cfg)
            paramwise_cfg = cfg.pop('paramwise_cfg', None)
            constructor = DefaultOptimWrapperConstructor(cfg, paramwise_cfg)
            wrappers[key] = constructor(model.get_submodule(key))
        return OptimWrapperDict(**wrappers)

    def _check_wrapper(self, wrapper: nn.Module) -> None:
        """Raise unless the model wrapper trains with an
        ``OptimWrapperDict``."""
        if not isinstance(wrapper, MultiOptimDistributedDataParallel):
            raise ValueError(
                f'{type(self).__name__}: the model is wrapped by '
                f'{type(wrapper).__name__}, whose training step cannot use '
                'the OptimWrapperDict of several optimisers; set '
                "model_wrapper_cfg=dict(type='wsstool."
                "MultiOptimDistributedDataParallel', broadcast_buffers=False)"
                ' in the config.')

    def _check_partition(self, model: nn.Module) -> None:
        """Raise unless every trainable parameter of ``model`` lies in
        exactly one configured submodule."""
        name = type(self).__name__
        owners = {}
        for key in self.optim_wrapper_cfg:
            try:
                submodule = model.get_submodule(key)
            except AttributeError:
                children = [child for child, _ in model.named_children()]
                raise ValueError(
                    f'{name}: {type(model).__name__} has no submodule '
                    f'{key!r}; its submodules are {children}.') from None
            for param in submodule.parameters():
                if id(param) in owners:
                    raise ValueError(
                        f'{name}: submodules {owners[id(param)]!r} and '
                        f'{key!r} share parameters; each parameter must be '
                        'optimised by one wrapper.')
                owners[id(param)] = key
        orphans = [
            param_name for param_name, param in model.named_parameters()
            if param.requires_grad and id(param) not in owners
        ]
        if orphans:
            raise ValueError(
                f'{name}: trainable parameters outside the configured '
                f'submodules {list(self.optim_wrapper_cfg)} would never be '
                f'updated: {orphans[:10]}' +
                (f' and {len(orphans) - 10} more' if len(orphans) > 10 else
                 '') + '. Add a wrapper for their submodule.')
