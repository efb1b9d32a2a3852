"""Read MXNet NDArray list files (``.params``) with numpy alone.

Layout (little-endian, as written by MXNet ``NDArray::Save`` for a list):

* ``uint64`` magic ``0x112``, ``uint64`` reserved, ``uint64`` array count,
  the arrays, ``uint64`` name count, each name as ``uint64`` length + bytes.
* Each array in one of three forms:

  * V2: ``uint32`` magic ``0xF993FAC9``, ``int32`` storage type (0 = dense),
    shape as ``uint32`` ndim + ``int64`` dims;
  * V1: ``uint32`` magic ``0xF993FAC8``, shape as ``uint32`` ndim + ``int64``
    dims;
  * legacy: no magic, shape as ``uint32`` ndim + ``uint32`` dims;

  then, unless ndim is 0 (an empty array, nothing follows), the context
  (``int32`` device type, ``int32`` device id), the ``int32`` type flag and
  the raw C-order data.

Names keep MXNet's ``arg:``/``aux:`` prefixes (``mx.model.save_checkpoint``
writes them; ``mx.nd.save`` of a plain dict does not).
"""
import math
import struct
from collections import Counter
from typing import Dict, List, Tuple

import numpy as np

LIST_MAGIC = 0x112
ARRAY_V1_MAGIC = 0xF993FAC8
ARRAY_V2_MAGIC = 0xF993FAC9
ARRAY_V3_MAGIC = 0xF993FACA
DENSE_STORAGE = 0
# Bound on the ndim of a legacy header, to reject garbage where an array
# header should be.
MAX_LEGACY_NDIM = 32

# mshadow type flags.
MXNET_DTYPES = {
    0: np.dtype('<f4'),
    1: np.dtype('<f8'),
    2: np.dtype('<f2'),
    3: np.dtype('u1'),
    4: np.dtype('<i4'),
    5: np.dtype('i1'),
    6: np.dtype('<i8'),
}


class _ByteReader:
    """Sequential little-endian reads from ``data`` that fail with the file
    name and offset instead of returning short reads."""

    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.offset = 0

    def error(self, message: str, offset: int) -> ValueError:
        return ValueError(f'MXNet params file {self.path}: {message} '
                          f'(at byte offset {offset}).')

    def take(self, size: int, what: str) -> memoryview:
        left = len(self.data) - self.offset
        if size > left:
            raise self.error(
                f'truncated while reading {what}: needs {size} bytes, '
                f'{left} left', self.offset)
        start = self.offset
        self.offset += size
        return memoryview(self.data)[start:self.offset]

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def scalar(self, fmt: str, what: str) -> int:
        return self.unpack(fmt, what)[0]


def _read_shape(reader: _ByteReader, dim_fmt: str,
                ndim: int) -> Tuple[int, ...]:
    return reader.unpack(f'<{ndim}{dim_fmt}', 'the array shape')


def _read_array(reader: _ByteReader, index: int) -> np.ndarray:
    """Read one array in the V2, V1 or legacy form (see module docstring)."""
    start = reader.offset
    head = reader.scalar('<I', f'array {index} header')
    if head == ARRAY_V3_MAGIC:
        raise reader.error(
            f'array {index} uses the NDArray V3 form (numpy shape '
            'semantics), which is not supported', start)
    if head == ARRAY_V2_MAGIC:
        storage = reader.scalar('<i', f'array {index} storage type')
        if storage != DENSE_STORAGE:
            raise reader.error(
                f'array {index} has sparse storage type {storage}; only '
                f'dense ({DENSE_STORAGE}) arrays are supported', start)
    if head in (ARRAY_V1_MAGIC, ARRAY_V2_MAGIC):
        ndim = reader.scalar('<I', f'array {index} ndim')
        shape = _read_shape(reader, 'q', ndim)
    elif head > MAX_LEGACY_NDIM:
        raise reader.error(
            f'array {index} starts with {head:#x}: neither an NDArray '
            f'V1/V2 magic ({ARRAY_V1_MAGIC:#x}/{ARRAY_V2_MAGIC:#x}) nor a '
            f'legacy ndim (at most {MAX_LEGACY_NDIM})', start)
    else:
        ndim = head
        shape = _read_shape(reader, 'I', ndim)
    if ndim == 0:
        return np.empty(0, dtype=MXNET_DTYPES[0])
    if min(shape) < 0:
        raise reader.error(f'array {index} has negative dims {shape}', start)
    reader.unpack('<ii', f'array {index} context')
    flag_offset = reader.offset
    flag = reader.scalar('<i', f'array {index} type flag')
    if flag not in MXNET_DTYPES:
        raise reader.error(
            f'array {index} has unknown type flag {flag}; expected one of '
            f'{sorted(MXNET_DTYPES)}', flag_offset)
    dtype = MXNET_DTYPES[flag]
    count = math.prod(shape)
    payload = reader.take(count * dtype.itemsize,
                          f'array {index} data of shape {shape}')
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(
        dtype.newbyteorder('='))


def _read_names(reader: _ByteReader) -> List[str]:
    count = reader.scalar('<Q', 'the name count')
    names = []
    for index in range(count):
        length = reader.scalar('<Q', f'name {index} length')
        start = reader.offset
        raw = bytes(reader.take(length, f'name {index}'))
        try:
            names.append(raw.decode('utf-8'))
        except UnicodeDecodeError as err:
            raise reader.error(f'name {index} is not UTF-8 ({err})',
                               start) from err
    return names


def load_mxnet_params(path: str) -> Dict[str, np.ndarray]:
    """Load the named arrays of an MXNet NDArray list file.

    Args:
        path (str): A ``.params`` file written by ``mx.nd.save`` or
            ``mx.model.save_checkpoint``.

    Returns:
        dict[str, np.ndarray]: Arrays in file order, keyed by their stored
        names (``arg:``/``aux:`` prefixes kept), with the stored shape and
        dtype (native byte order, writable). An array saved with ndim 0 (an
        empty MXNet NDArray) is returned as a float32 array of shape (0,).

    Raises:
        ValueError: Naming the file and the byte offset, on a bad magic, a
            truncated file, trailing bytes, an unsupported array form,
            storage or type flag, or names that do not match the arrays.
    """
    with open(path, 'rb') as f:
        reader = _ByteReader(f.read(), path)
    magic = reader.scalar('<Q', 'the file magic')
    if magic != LIST_MAGIC:
        raise reader.error(
            f'bad magic {magic:#x}, expected {LIST_MAGIC:#x} (an MXNet '
            'NDArray list file)', 0)
    reader.scalar('<Q', 'the reserved header field')
    count = reader.scalar('<Q', 'the array count')
    arrays = [_read_array(reader, index) for index in range(count)]
    names_offset = reader.offset
    names = _read_names(reader)
    if len(names) != len(arrays):
        raise reader.error(
            f'{len(names)} names for {len(arrays)} arrays; expected one name '
            'per array', names_offset)
    if len(set(names)) != len(names):
        repeated = sorted(
            name for name, times in Counter(names).items() if times > 1)
        raise reader.error(f'repeated names {repeated}', names_offset)
    if reader.offset != len(reader.data):
        raise reader.error(
            f'{len(reader.data) - reader.offset} unexpected trailing bytes',
            reader.offset)
    return dict(zip(names, arrays))
