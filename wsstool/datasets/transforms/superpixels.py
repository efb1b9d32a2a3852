"""Superpixels of the loaded image, computed with scikit-image and cached."""
import inspect
import os.path as osp
from collections.abc import Callable

import cv2
import numpy as np
import skimage
from mmcv.transforms import BaseTransform
from skimage.segmentation import felzenszwalb, slic

from wsstool.fileio import save_image
from wsstool.registry import TRANSFORMS

# Default parameters of each method, for VOC-sized images (about 500 x 375).
# SLIC: about 300 regions (about 25 x 25 pixels each) with scikit-image's
# standard compactness 10 in CIELAB space; Felzenszwalb: scikit-image's
# documented example setting (scale 100, sigma 0.8, min_size 50).
SUPERPIXEL_METHODS: dict[str, tuple[Callable, dict]] = dict(
    slic=(slic, dict(n_segments=300, compactness=10.0, sigma=0.0,
                     max_num_iter=10)),
    felzenszwalb=(felzenszwalb, dict(scale=100.0, sigma=0.8, min_size=50)))

# The cache stores ids as 16-bit PNGs.
MAX_CACHED_SUPERPIXELS = 65536


def compute_superpixels(img_rgb: np.ndarray, method: str,
                        params: dict) -> np.ndarray:
    """Superpixel ids of an RGB image.

    Args:
        img_rgb (np.ndarray): (H, W, 3) uint8 RGB image.
        method (str): A key of :data:`SUPERPIXEL_METHODS`.
        params (dict): Keyword arguments of the scikit-image function.

    Returns:
        np.ndarray: (H, W) int32 ids, consecutive from 0 (0..S-1).
    """
    function = SUPERPIXEL_METHODS[method][0]
    if method == 'slic':
        params = dict(params, start_label=0)
    labels = function(img_rgb, **params)
    _, ids = np.unique(labels, return_inverse=True)
    return ids.reshape(labels.shape).astype(np.int32)


@TRANSFORMS.register_module()
class ComputeSuperpixels(BaseTransform):
    """Compute the superpixels of ``results['img']`` for the superpixel
    alignment loss of SSC.

    Must come right after :class:`LoadImageFromFile`: the superpixels are
    those of the image as loaded (before any geometric or photometric
    augmentation), so a cached map stays valid for every epoch. The ids are
    added as a seg field, so the geometric transforms move them with the
    image (nearest-neighbour resizing, flips, crops). Use those transforms
    with their default ``cv2`` backend: the ``pillow`` backend resizes uint8
    arrays only. :class:`RandomCropWithPad` fills the ids of padding with
    its ``seg_pad_val`` (255, which may also be a real id); the padding is
    marked by ``valid_mask`` and the model ignores it there (see
    :func:`wsstool.models.utils.superpixel_ops.stack_superpixels`).

    The image is converted from BGR to RGB and segmented with
    scikit-image's ``slic`` (``start_label`` 0, CIELAB distance) or
    ``felzenszwalb``; the labels are renumbered 0..S-1.

    With ``cache_dir``, each map is stored once as a 16-bit PNG
    ``<cache_dir>/<method folder>/<img_id>.png`` (written atomically, so
    concurrent dataloader workers and processes are safe) and read back
    afterwards. The method folder names the method, all its parameters and
    the scikit-image version, e.g.
    ``felzenszwalb-min_size=50-scale=100.0-sigma=0.8-skimage=0.26``, so
    changing any of them never reads stale maps. A cached file that
    cannot be decoded or whose size differs from the image's raises an
    error naming the file (delete it to recompute): it belongs to another
    image or dataset sharing the cache and the ``img_id``.

    Added keys: ``superpixel`` (int32 (H, W) ids 0..S-1), appended to
    ``seg_fields``.

    Args:
        method (str): ``'slic'`` or ``'felzenszwalb'``. Defaults to 'slic'.
        params (dict, optional): Keyword arguments of the scikit-image
            function, merged onto the defaults of
            :data:`SUPERPIXEL_METHODS` (SLIC: ``n_segments=300,
            compactness=10.0, sigma=0.0, max_num_iter=10``; Felzenszwalb:
            ``scale=100.0, sigma=0.8, min_size=50``). Values must be
            numbers, booleans or strings. Defaults to None.
        cache_dir (str, optional): Folder of the cached maps; None computes
            them on every call. Defaults to None.
    """

    def __init__(self,
                 method: str = 'slic',
                 params: dict | None = None,
                 cache_dir: str | None = None) -> None:
        if method not in SUPERPIXEL_METHODS:
            raise ValueError(f'ComputeSuperpixels method must be one of '
                             f'{sorted(SUPERPIXEL_METHODS)}, got {method!r}')
        self.method = method
        self.params = self._merged_params(method, params or {})
        self.cache_dir = cache_dir

    @staticmethod
    def _merged_params(method: str, params: dict) -> dict:
        """The method's defaults updated by ``params``; a given value of a
        default parameter takes the default's type (so ``10`` and ``10.0``
        name the same cache folder)."""
        function, defaults = SUPERPIXEL_METHODS[method]
        accepted = set(inspect.signature(function).parameters) - {
            'image', 'start_label', 'channel_axis', 'mask'
        }
        merged = dict(defaults)
        for key, value in params.items():
            if key not in accepted:
                raise ValueError(
                    f'ComputeSuperpixels: {key!r} is not a parameter of '
                    f'skimage.segmentation.{method} that can be set here; '
                    f'expected one of {sorted(accepted)}')
            if not isinstance(value, (bool, int, float, str)):
                raise ValueError(
                    f'ComputeSuperpixels: parameter {key}={value!r} must be '
                    'a number, a boolean or a string')
            if key in defaults and not isinstance(value, bool):
                value = type(defaults[key])(value)
            merged[key] = value
        return merged

    @property
    def cache_folder(self) -> str | None:
        """``<cache_dir>/<method folder>``, or None without a cache."""
        if self.cache_dir is None:
            return None
        version = '.'.join(skimage.__version__.split('.')[:2])
        name = '-'.join([self.method] +
                        [f'{k}={v}' for k, v in sorted(self.params.items())]
                        + [f'skimage={version}'])
        return osp.join(self.cache_dir, name)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if 'ori_shape' in results and img.shape[:2] != tuple(
                results['ori_shape']):
            raise ValueError(
                f'ComputeSuperpixels got an image of size {img.shape[:2]} '
                f'but the loaded image {results.get("img_path")} has size '
                f'{tuple(results["ori_shape"])}; put ComputeSuperpixels '
                'right after LoadImageFromFile, before any resize or crop')
        if self.cache_folder is None:
            ids = self._compute(img)
        else:
            ids = self._cached(results)
        results['superpixel'] = ids
        seg_fields = results.setdefault('seg_fields', [])
        if 'superpixel' not in seg_fields:
            seg_fields.append('superpixel')
        return results

    def _compute(self, img_bgr: np.ndarray) -> np.ndarray:
        return compute_superpixels(
            np.ascontiguousarray(img_bgr[..., ::-1]), self.method,
            self.params)

    def _cached(self, results: dict) -> np.ndarray:
        """Read the cached map of ``results['img_id']``, or compute and
        store it."""
        if 'img_id' not in results:
            raise KeyError('ComputeSuperpixels with a cache_dir needs '
                           "results['img_id'] to name the cached file")
        path = osp.join(self.cache_folder, f'{results["img_id"]}.png')
        size = results['img'].shape[:2]
        if osp.exists(path):
            return self._read(path, size)
        ids = self._compute(results['img'])
        if ids.max() >= MAX_CACHED_SUPERPIXELS:
            raise ValueError(
                f'ComputeSuperpixels: image {results.get("img_path")} has '
                f'{ids.max() + 1} superpixels; the cache stores at most '
                f'{MAX_CACHED_SUPERPIXELS} (16-bit PNG): choose parameters '
                'giving fewer superpixels')
        save_image(path, ids.astype(np.uint16))
        return ids

    @staticmethod
    def _read(path: str, size: tuple[int, int]) -> np.ndarray:
        """The (H, W) int32 ids stored in ``path``, checked against the
        image ``size``."""
        ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if ids is None or ids.dtype != np.uint16 or ids.ndim != 2:
            raise OSError(
                f'cached superpixel file {path} is corrupt or not a '
                'single-channel 16-bit PNG; delete it to recompute')
        if ids.shape != tuple(size):
            raise ValueError(
                f'cached superpixel file {path} has size {ids.shape} but '
                f'its image has size {tuple(size)}: the cache folder holds '
                'the maps of another image with the same img_id (use one '
                'cache_dir per dataset) or of a changed image; delete it '
                'to recompute')
        return ids.astype(np.int32)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(method={self.method!r}, '
                f'params={self.params}, cache_dir={self.cache_dir!r})')
