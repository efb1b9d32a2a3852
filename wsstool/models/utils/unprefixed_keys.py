"""Rename the keys of a checkpoint saved without wsstool's module prefixes."""
from collections import OrderedDict
from typing import Collection, Mapping, Sequence

from torch import Tensor

DATA_PARALLEL_PREFIX = 'module.'


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
    becomes the first ``prefix + key`` that is; other keys are kept, so
    loading reports them.

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
    if state_dict and all(
            key.startswith(DATA_PARALLEL_PREFIX) for key in state_dict):
        state_dict = OrderedDict(
            (key[len(DATA_PARALLEL_PREFIX):], value)
            for key, value in state_dict.items())
    if any(key in model_keys and key.startswith(tuple(prefixes))
           for key in state_dict):
        return OrderedDict(state_dict)
    mapped = OrderedDict()
    for key, value in state_dict.items():
        target = key
        if key not in model_keys:
            target = next((prefix + key for prefix in prefixes
                           if prefix + key in model_keys), key)
        if target in mapped:
            raise ValueError(
                f'Checkpoint keys map twice to {target!r} (the second is '
                f'{key!r}); expected each tensor to have one model key.')
        mapped[target] = value
    return mapped
