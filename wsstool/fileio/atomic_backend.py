"""mmengine's local file backend, writing through :func:`atomic_write`."""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from .atomic import atomic_write


class AtomicLocalBackend(LocalBackend):
    """Local backend whose ``put``/``put_text`` write a temporary file and
    rename it, so a crash while saving a checkpoint never leaves a truncated
    file under the checkpoint's name."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        with atomic_write(str(filepath)) as f:
            f.write(obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


def register_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths
    (used by ``save_checkpoint`` and the checkpoint hook)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
