"""Rename the keys of a checkpoint saved without wsstool's module prefixes."""
from collections import OrderedDict
from functools import partial
from typing import (Callable, Collection, Dict, Mapping, Optional, Sequence,
                    Tuple)

from torch import Tensor, nn

DATA_PARALLEL_PREFIX = 'module.'
KeyMapping = Callable[[Dict[str, Tensor]], Mapping[str, Tensor]]


def strip_data_parallel_prefix(
        state_dict: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """The tensors without the ``module.`` prefix (``DataParallel``) when
    every key has it; otherwise under their own keys."""
    if state_dict and all(
            key.startswith(DATA_PARALLEL_PREFIX) for key in state_dict):
        return OrderedDict((key[len(DATA_PARALLEL_PREFIX):], value)
                           for key, value in state_dict.items())
    return OrderedDict(state_dict)


def rename_prefixed_keys(
    state_dict: Mapping[str, Tensor], model_keys: Collection[str],
    renames: Sequence[Tuple[str, str]]) -> 'OrderedDict[str, Tensor]':
    """Give checkpoint keys that are not model keys the model's names.

    Each key that is not in ``model_keys`` becomes, for the first
    ``(old, new)`` of ``renames`` whose ``old`` prefix it starts with and
    whose renamed key ``new + key[len(old):]`` is a model key, that renamed
    key (``old=''`` adds a prefix); other keys are kept, so loading reports
    them.

    Args:
        state_dict (Mapping[str, Tensor]): Checkpoint tensors.
        model_keys (Collection[str]): Keys of ``model.state_dict()``.
        renames (Sequence[tuple[str, str]]): ``(old prefix, new prefix)``
            pairs, tried in order.

    Returns:
        OrderedDict[str, Tensor]: The same tensors in the same order under
        the mapped keys.

    Raises:
        ValueError: If two keys map to the same model key.
    """
    model_keys = set(model_keys)
    mapped = OrderedDict()
    for key, value in state_dict.items():
        target = key
        if key not in model_keys:
            target = next((new + key[len(old):] for old, new in renames
                           if key.startswith(old)
                           and new + key[len(old):] in model_keys), key)
        if target in mapped:
            raise ValueError(
                f'Checkpoint keys map twice to {target!r} (the second is '
                f'{key!r}); expected each tensor to have one model key.')
        mapped[target] = value
    return mapped


def map_unprefixed_keys(
    state_dict: Mapping[str, Tensor],
    model_keys: Collection[str],
    prefixes: Sequence[str] = ('backbone.', 'head.', 'head.pooling.')
) -> 'OrderedDict[str, Tensor]':
    """Give the keys of a reference checkpoint the prefixes of the model.

    Reference code saves one flat network (``conv1a.weight``,
    ``fc8.weight``, ``gconv1.att_p.0.weight``), whereas wsstool nests it as
    ``backbone.``, ``head.`` and ``head.pooling.``. First a ``module.``
    prefix on every key (``DataParallel``) is removed. Then, unless the
    checkpoint is already in the model's layout (some key is a model key
    that starts with one of ``prefixes``), each key that is not a model key
    becomes the first ``prefix + key`` that is
    (:func:`rename_prefixed_keys`).

    Args:
        state_dict (Mapping[str, Tensor]): Checkpoint tensors.
        model_keys (Collection[str]): Keys of ``model.state_dict()``.
        prefixes (Sequence[str]): Candidate prefixes, tried in order.

    Returns:
        OrderedDict[str, Tensor]: The same tensors in the same order under
        the mapped keys.

    Raises:
        ValueError: If two keys map to the same model key.
    """
    model_keys = set(model_keys)
    state_dict = strip_data_parallel_prefix(state_dict)
    if any(key in model_keys and key.startswith(tuple(prefixes))
           for key in state_dict):
        return state_dict
    return rename_prefixed_keys(state_dict, model_keys,
                                [('', prefix) for prefix in prefixes])


def _map_keys_in_place(map_keys: Optional[KeyMapping], module: nn.Module,
                       state_dict: Dict[str, Tensor], prefix: str,
                       *args) -> None:
    """``load_state_dict`` pre-hook: rename the keys of a state dict loaded
    into ``module`` itself (not as a submodule of another model)."""
    if prefix:
        return
    if map_keys is None:
        mapped = map_unprefixed_keys(state_dict, module.state_dict().keys())
    else:
        mapped = map_keys(state_dict)
    state_dict.clear()
    state_dict.update(mapped)


def register_key_mapping_hook(module: nn.Module,
                              map_keys: Optional[KeyMapping] = None) -> None:
    """Map reference checkpoint keys whenever ``module`` loads a state dict.

    Registers a ``load_state_dict`` pre-hook that replaces the keys of a
    state dict loaded into ``module`` itself (not as a submodule) by those
    of ``map_keys(state_dict)``.

    Args:
        module (nn.Module): The model.
        map_keys (callable, optional): ``state_dict -> mapped state dict``.
            Defaults to :func:`map_unprefixed_keys` with the keys of
            ``module.state_dict()`` at loading time.
    """
    module.register_load_state_dict_pre_hook(
        partial(_map_keys_in_place, map_keys))
