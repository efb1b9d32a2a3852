"""Load mmengine checkpoints with ``torch.load(weights_only=True)`` and save
them atomically.

mmengine 0.10.x calls ``torch.load`` without ``weights_only``; torch >= 2.6
defaults it to True and then rejects the message-hub state that mmengine
pickles into every checkpoint (``HistoryBuffer``, numpy arrays and scalars),
so ``--resume`` fails. Rather than unpickling anything (``weights_only=False``)
wsstool re-registers mmengine's local-file loader with an allowlist of the
exact globals such checkpoints contain.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

from wsstool.fileio import register_atomic_local_backend


def _history_buffer_getattr(obj: object, name: str) -> object:
    """Stand-in for ``getattr`` during unpickling: only resolves the public
    statistic methods of ``HistoryBuffer`` that its instances store."""
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise ValueError(f'refusing to unpickle getattr({obj!r}, {name!r}): only '
                     'HistoryBuffer statistic methods are allowed')


def _numpy_globals() -> list:
    """numpy reconstruction helpers under both numpy 1.x and 2.x names."""
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    entries: list = [np.ndarray, np.dtype]
    for func in (multiarray._reconstruct, multiarray.scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((func, f'{module}.{func.__name__}'))
    entries += [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    return entries


SAFE_GLOBALS = [
    HistoryBuffer,
    (_history_buffer_getattr, 'builtins.getattr'),
    *_numpy_globals(),
]


def load_from_local(filename: str, map_location=None) -> dict:
    """``torch.load`` a local checkpoint allowing only ``SAFE_GLOBALS``."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(
            filename, map_location=map_location, weights_only=True)


def register_safe_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints with :func:`load_from_local`
    (used by ``load_from``, ``--resume`` and ``load_checkpoint``)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def setup_checkpoint_io() -> None:
    """Load checkpoints with the allowlist above and save them atomically
    (temporary file, then rename). The tools call this before building a
    runner."""
    register_safe_checkpoint_loader()
    register_atomic_local_backend()
