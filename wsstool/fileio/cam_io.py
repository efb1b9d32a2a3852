"""Read and write CAM files: the toolbox ``.npz`` format and the PSA-style
and IRN-style pickled dicts of the reference pipelines.

* ``'npz'`` (toolbox): ``keys`` int64 (K,) foreground class indices and
  ``cam`` float16 (or float32) (K, H, W) at image resolution.
* ``'psa'``: ``np.save`` of a dict {int class -> float32 (H, W)} (PSA, SEAM,
  PPC, AEFT and KTSE ``infer --dict``).
* ``'irn'``: ``np.save`` of a dict with ``keys`` torch LongTensor (K,),
  ``cam`` torch FloatTensor (K, ceil(H/4), ceil(W/4)) and ``high_res``
  float32 (K, H, W) (IRN ``make_cam`` and its forks). The toolbox writes the
  stride-4 ``cam`` as a bilinear down-sampling of the full-resolution map;
  IRN computes it from stride-4 features, so the two differ slightly.

Any dict with integer keys reads as a PSA-style CAM dict, including PSA's
CRF score dicts (``la``/``ha``: key 0 = background, key k + 1 = class k),
whose class ids would come out one too high: give :func:`load_cam` CAM
dicts only, and pass ``fmt='npz'`` or ``fmt='irn'`` where no PSA-style file
is expected.

Pickled dicts run code when loaded: read only files you trust.
"""
import os.path as osp
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_write

CAM_FORMATS = ('npz', 'psa', 'irn')
# file names of an image's CAMs, in order of preference: <id>.npz, <id>.npy
CAM_SUFFIXES = ('.npz', '.npy')
NPZ_DTYPES = ('float16', 'float32')
ArrayLike = Union[np.ndarray, torch.Tensor]

_ZIP_MAGIC = b'PK\x03\x04'
_NPY_MAGIC = b'\x93NUMPY'
_EXPECTED = ('a toolbox .npz with "keys" and "cam", or a .npy pickled dict, '
             'either PSA-style {class: (H, W) map} or IRN-style with "keys" '
             'and "high_res"')
_DESCRIPTIONS = dict(
    npz='a toolbox .npz',
    psa='a PSA-style dict {class: (H, W) map}',
    irn='an IRN-style dict with "keys" and "high_res"')


def _as_numpy(value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_cam(keys: np.ndarray, cam: np.ndarray, source: str) -> None:
    if keys.ndim != 1 or cam.ndim != 3 or cam.shape[0] != keys.shape[0]:
        raise ValueError(
            f'{source}: keys of shape {keys.shape} and cam of shape '
            f'{cam.shape}; expected keys (K,) and cam (K, H, W)')


def save_cam(path: str,
             keys: ArrayLike,
             cam: ArrayLike,
             fmt: str = 'npz',
             dtype: str = 'float16') -> None:
    """Write the CAMs of one image atomically.

    Args:
        path (str): Output file (conventionally ``<id>.npz`` for ``'npz'``
            and ``<id>.npy`` for the dict formats).
        keys (np.ndarray | Tensor): (K,) foreground class indices.
        cam (np.ndarray | Tensor): (K, H, W) CAMs at image resolution.
        fmt (str): ``'npz'``, ``'psa'`` or ``'irn'`` (see the module doc).
        dtype (str): dtype of ``cam`` in the ``'npz'`` format, ``'float16'``
            or ``'float32'``; the dict formats always hold float32.
            Defaults to 'float16'.
    """
    if fmt not in CAM_FORMATS:
        raise ValueError(f'fmt must be one of {CAM_FORMATS}, got {fmt!r}')
    if dtype not in NPZ_DTYPES:
        raise ValueError(f'dtype must be one of {NPZ_DTYPES}, got {dtype!r}')
    keys = _as_numpy(keys).astype(np.int64)
    cam = _as_numpy(cam).astype(np.float32)
    _check_cam(keys, cam, f'save_cam({path!r})')
    with atomic_write(path) as f:
        if fmt == 'npz':
            if cam.size and np.abs(cam).max() > np.finfo(dtype).max:
                raise ValueError(
                    f'save_cam({path!r}): cam values exceed the {dtype} '
                    'range; normalise the CAMs first')
            np.savez(f, keys=keys, cam=cam.astype(dtype))
        elif fmt == 'psa':
            np.save(f, {int(k): c for k, c in zip(keys, cam)},
                    allow_pickle=True)
        else:
            np.save(f, _irn_dict(keys, cam), allow_pickle=True)


def _irn_dict(keys: np.ndarray, cam: np.ndarray) -> dict:
    """IRN-style dict; ``cam`` is ``high_res`` resized to the stride-4 size
    (ceil(H/4), ceil(W/4))."""
    height, width = cam.shape[1:]
    stride4 = (-(-height // 4), -(-width // 4))
    high_res = torch.from_numpy(cam)
    if len(keys):
        low_res = F.interpolate(
            high_res[None], size=stride4, mode='bilinear',
            align_corners=False)[0]
    else:
        low_res = torch.zeros((0, ) + stride4)
    return dict(keys=torch.from_numpy(keys), cam=low_res, high_res=cam)


def load_cam(path: str, fmt: str = 'auto') -> Tuple[np.ndarray, np.ndarray]:
    """Read a CAM file in one of :data:`CAM_FORMATS`.

    Args:
        path (str): The CAM file.
        fmt (str): ``'auto'`` accepts any format, detected from the content;
            ``'npz'``, ``'psa'`` or ``'irn'`` rejects files of the other
            formats. Defaults to 'auto'.

    Returns:
        tuple: ``keys`` int64 (K,) foreground class indices (ascending for
        PSA dicts) and ``cam`` float32 (K, H, W) at image resolution (IRN:
        ``high_res``). An empty PSA dict gives ``cam`` of shape (0, 0, 0).
    """
    if fmt not in ('auto', ) + CAM_FORMATS:
        raise ValueError(f'fmt must be "auto" or one of {CAM_FORMATS}, got '
                         f'{fmt!r}')
    with open(path, 'rb') as f:
        magic = f.read(len(_NPY_MAGIC))
    if magic.startswith(_ZIP_MAGIC):
        found, (keys, cam) = 'npz', _load_npz(path)
    elif magic == _NPY_MAGIC:
        found, keys, cam = _load_dict(path)
    else:
        raise ValueError(f'{path} is not a CAM file: expected {_EXPECTED}')
    if fmt not in ('auto', found):
        raise ValueError(f'{path} is {_DESCRIPTIONS[found]}, not the {fmt!r} '
                         f'format asked for ({_DESCRIPTIONS[fmt]})')
    keys, cam = keys.astype(np.int64), cam.astype(np.float32)
    _check_cam(keys, cam, path)
    return keys, cam


def find_cam_file(folder: str,
                  img_id: str,
                  required: bool = True) -> Optional[str]:
    """The CAM file of an image: ``<folder>/<img_id>.npz``, else
    ``<folder>/<img_id>.npy`` (:data:`CAM_SUFFIXES`).

    Args:
        folder (str): Folder of CAM files.
        img_id (str): Image id, the file stem.
        required (bool): Whether a missing file is an error; else it gives
            None. Defaults to True.

    Raises:
        FileNotFoundError: There is neither file and ``required``; the
            message names the paths looked for.
    """
    candidates = [osp.join(folder, img_id + suffix) for suffix in CAM_SUFFIXES]
    for path in candidates:
        if osp.isfile(path):
            return path
    if required:
        raise FileNotFoundError(f'CAM file of image {img_id} not found: '
                                f'looked for {" or ".join(candidates)}')
    return None


def _load_npz(path: str) -> Tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        missing = {'keys', 'cam'} - set(data.files)
        if missing:
            raise ValueError(
                f'{path} lacks {sorted(missing)} (holds {data.files}): '
                f'expected {_EXPECTED}')
        return data['keys'], data['cam']


def _load_dict(path: str) -> Tuple[str, np.ndarray, np.ndarray]:
    """Format (``'psa'`` or ``'irn'``), keys and CAMs of a pickled dict."""
    content = np.load(path, allow_pickle=True)
    if content.dtype != object or content.shape != ():
        raise ValueError(
            f'{path} holds an array of shape {content.shape} and dtype '
            f'{content.dtype}, not a dict: expected {_EXPECTED}')
    content = content.item()
    if not isinstance(content, dict):
        raise ValueError(f'{path} holds a {type(content).__name__}: '
                         f'expected {_EXPECTED}')
    if 'keys' in content:
        if 'high_res' not in content:
            raise ValueError(
                f'{path} is an IRN-style dict without "high_res" (holds '
                f'{sorted(content)}); the full-resolution CAMs are needed')
        return 'irn', _as_numpy(content['keys']), _as_numpy(
            content['high_res'])
    if not all(isinstance(k, (int, np.integer)) for k in content):
        raise ValueError(f'{path} is a dict with keys {list(content)[:10]}: '
                         f'expected {_EXPECTED}')
    if not content:
        return 'psa', np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32)
    keys = sorted(content)
    return 'psa', np.array(keys), np.stack(
        [_as_numpy(content[k]) for k in keys])
