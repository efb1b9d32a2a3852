"""Write files so that a crash never leaves a half-written result."""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# read once: os.umask is process-wide, changing it briefly is not thread-safe
_FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it onto ``path`` on
    success, delete it on error. Parent directories are created.

    Example:
        >>> with atomic_write('out/a.npz') as f:
        ...     np.savez(f, x=x)
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        # mkstemp creates owner-only files; give the usual permissions
        os.chmod(tmp_path, _FILE_MODE)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
