import os

import pytest

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
