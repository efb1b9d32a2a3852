"""Merging a model's option dict (``train_cfg``/``test_cfg``) into its
defaults."""
from typing import Optional


def merge_cfg_defaults(cfg: Optional[dict], defaults: dict,
                       owner: str) -> dict:
    """``defaults`` updated with ``cfg`` (None: no change).

    Args:
        cfg (dict, optional): Given options.
        defaults (dict): Every known option with its default value.
        owner (str): The options' name in errors, e.g.
            ``'IRNet test_cfg'``.

    Raises:
        ValueError: If ``cfg`` has a key that ``defaults`` lacks.
    """
    merged = dict(defaults, **(cfg or {}))
    unknown = set(merged) - set(defaults)
    if unknown:
        raise ValueError(f'{owner} has unknown keys {sorted(unknown)}; '
                         f'expected keys of {sorted(defaults)}.')
    return merged


def is_number(value) -> bool:
    """True for an int or float option value (bools are not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
