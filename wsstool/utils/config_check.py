"""Check the config values that commonly arrive malformed from the command
line (``--cfg-options key=value`` yields strings on typos)."""
from numbers import Number
from typing import Any, Callable

from mmengine.config import Config

_MISSING = object()


def _lookup(cfg: Config, dotted_key: str) -> Any:
    node: Any = cfg
    for part in dotted_key.split('.'):
        if not isinstance(node, (dict, Config)) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= 0)


def _positive_number(value: Any) -> bool:
    return (isinstance(value, Number) and not isinstance(value, bool)
            and value > 0)


def _optional_int(value: Any) -> bool:
    return value is None or (isinstance(value, int)
                             and not isinstance(value, bool))


# key -> (predicate, what was expected)
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    'train_dataloader.batch_size': (_positive_int, 'a positive integer'),
    'train_dataloader.num_workers': (_non_negative_int,
                                     'a non-negative integer'),
    'val_dataloader.batch_size': (_positive_int, 'a positive integer'),
    'test_dataloader.batch_size': (_positive_int, 'a positive integer'),
    'train_cfg.max_epochs': (_positive_int, 'a positive integer'),
    'train_cfg.max_iters': (_positive_int, 'a positive integer'),
    'train_cfg.val_interval': (_positive_int, 'a positive integer'),
    'optim_wrapper.optimizer.lr': (_positive_number, 'a positive number'),
    'randomness.seed': (_optional_int, 'an integer or None'),
    'model.head.num_classes': (_positive_int, 'a positive integer'),
}


def check_config(cfg: Config) -> None:
    """Raise ``ValueError`` naming the first malformed key of ``CHECKS``."""
    for key, (is_valid, expected) in CHECKS.items():
        value = _lookup(cfg, key)
        if value is not _MISSING and not is_valid(value):
            raise ValueError(
                f'config key {key!r} must be {expected}, got {value!r} '
                f'({type(value).__name__})')
