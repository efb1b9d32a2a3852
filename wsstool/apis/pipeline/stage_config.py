"""The config file a stage hands to its tool: the named config with the
pipeline's data root, common overrides, seed and the stage's overrides."""
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config

from wsstool.fileio import atomic_write


def build_stage_config(config: str, data_root: Optional[str],
                       common_cfg_options: Dict[str, Any],
                       cfg_options: Dict[str, Any],
                       seed: Optional[int] = None) -> Config:
    """Load ``config`` and apply, in order: ``data_root`` to every dataset
    (every ``data_root`` key), ``common_cfg_options`` where the config has
    the key, ``seed`` as ``randomness.seed``, then ``cfg_options``."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'stage config {config!r} does not exist')
    cfg = Config.fromfile(config)
    if data_root is not None:
        cfg = Config(_set_every(cfg.to_dict(), 'data_root', data_root),
                     filename=cfg.filename)
    _merge(cfg,
           {k: v
            for k, v in common_cfg_options.items() if _has_key(cfg, k)})
    if seed is not None:
        cfg.merge_from_dict({'randomness.seed': seed})
    _merge(cfg, cfg_options)
    return cfg


def _merge(cfg: Config, options: Dict[str, Any]) -> None:
    """Merge ``options`` one key at a time: in a single merge a nested dict
    (``{'a': {'b': 1}}``, as ``--cfg-options a.b=1`` gives) replaces the
    dotted keys under the same prefix (``'a.c'``) merged before it."""
    for key, value in options.items():
        cfg.merge_from_dict({key: value})


def dump_stage_config(cfg: Config, path: str) -> str:
    """Write ``cfg`` as a self-contained Python config (atomically)."""
    with atomic_write(path, 'w') as f:
        f.write(cfg.pretty_text)
    return path


def _set_every(node: Any, key: str, value: Any) -> Any:
    """``node`` with ``key`` set to ``value`` in every nested dict."""
    if isinstance(node, dict):
        return {
            name: value if name == key else _set_every(child, key, value)
            for name, child in node.items()
        }
    if isinstance(node, (list, tuple)):
        return type(node)(_set_every(child, key, value) for child in node)
    return node


def _has_key(cfg: Config, dotted: str) -> bool:
    """Whether ``cfg`` has the dotted key (list items by index)."""
    node: Any = cfg.to_dict()
    for part in dotted.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(
                part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True
