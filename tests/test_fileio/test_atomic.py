import importlib
import os

import pytest

import wsstool.fileio.atomic as atomic
from wsstool.fileio import atomic_write


def test_atomic_write_creates_file_and_parents(tmp_path):
    path = tmp_path / 'a' / 'b' / 'x.bin'
    with atomic_write(str(path)) as f:
        f.write(b'123')
    assert path.read_bytes() == b'123'
    assert os.listdir(path.parent) == ['x.bin']


def test_failed_write_keeps_previous_content(tmp_path):
    path = tmp_path / 'x.txt'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path), 'w') as f:
            f.write('half')
            raise RuntimeError('crash')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['x.txt']


def test_atomic_backend_keeps_old_checkpoint_when_rename_fails(
        tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend

    from wsstool.fileio import AtomicLocalBackend
    from wsstool.utils import setup_checkpoint_io

    setup_checkpoint_io()
    path = tmp_path / 'epoch_1.pth'
    backend = get_file_backend(str(path))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'first', str(path))
    backend.put_text('second', str(path))
    assert path.read_bytes() == b'second'

    def crash(*args):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'third', str(path))
    assert path.read_bytes() == b'second'
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        importlib.reload(atomic)  # the module reads the umask once
        with atomic.atomic_write(str(tmp_path / 'a.txt'), 'w') as f:
            f.write('x')
    finally:
        os.umask(umask)
        importlib.reload(atomic)
    assert (tmp_path / 'a.txt').stat().st_mode & 0o777 == 0o644
