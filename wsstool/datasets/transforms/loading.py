"""Load images and WSSS label maps into the results dict."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from PIL import Image

from wsstool.fileio import load_label_png
from wsstool.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Load ``results['img_path']`` as a BGR uint8 (H, W, 3) image.

    Added keys: ``img``, ``img_shape`` and ``ori_shape`` (both (H, W)).

    Args:
        imdecode_backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 imdecode_backend: str = 'cv2',
                 backend_args: dict | None = None) -> None:
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        img_bytes = fileio.get(path, backend_args=self.backend_args)
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag='color', backend=self.imdecode_backend)
        except Exception as e:
            raise OSError(f'cannot decode image {path}: {e}') from e
        if img is None:
            raise OSError(f'cannot decode image {path}: corrupt or not an '
                          'image file')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(imdecode_backend='
                f'{self.imdecode_backend!r})')


@TRANSFORMS.register_module()
class LoadWSSSAnnotations(BaseTransform):
    """Load the label map and/or the confidence mask of an image.

    Added keys: ``gt_seg_map`` (uint8 (H, W) class ids, 255 = ignore) from
    ``seg_map_path``; ``conf_mask`` (bool (H, W), True = confident) from
    ``conf_mask_path``; both are appended to ``seg_fields``.

    Confidence masks are binary PNGs, RGB (channel-replicated, as the
    reference ``gen_mask.py`` writes them) or single channel, with values
    0/255 or 0/1; non-zero means confident.

    Args:
        with_seg_map (bool): Load ``gt_seg_map``. Defaults to True.
        with_conf_mask (bool): Load ``conf_mask``. Defaults to False.
    """

    def __init__(self,
                 with_seg_map: bool = True,
                 with_conf_mask: bool = False) -> None:
        self.with_seg_map = with_seg_map
        self.with_conf_mask = with_conf_mask

    def transform(self, results: dict) -> dict:
        if self.with_seg_map:
            path = self._path(results, 'seg_map_path', "data_prefix's "
                              'seg_map_path')
            self._add(results, 'gt_seg_map', load_label_png(path), path)
        if self.with_conf_mask:
            path = self._path(results, 'conf_mask_path', 'conf_mask_dir')
            self._add(results, 'conf_mask', read_conf_mask(path), path)
        return results

    @staticmethod
    def _path(results: dict, key: str, dataset_arg: str) -> str:
        path = results.get(key)
        if path is None:
            raise KeyError(f'image {results.get("img_id")!r} has no {key}; '
                           f'set {dataset_arg} in the dataset config')
        return path

    @staticmethod
    def _add(results: dict, key: str, value: np.ndarray, path: str) -> None:
        if 'img_shape' in results and value.shape != tuple(
                results['img_shape']):
            raise ValueError(f'{path} has size {value.shape}, but its image '
                             f'{results.get("img_path")} has size '
                             f'{tuple(results["img_shape"])}')
        results[key] = value
        seg_fields = results.setdefault('seg_fields', [])
        if key not in seg_fields:
            seg_fields.append(key)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(with_seg_map={self.with_seg_map}, '
                f'with_conf_mask={self.with_conf_mask})')


def read_conf_mask(path: str) -> np.ndarray:
    """Read a binary confidence-mask PNG as bool (H, W)."""
    with Image.open(path) as img:
        grey = np.array(img if img.mode in ('1', 'L') else img.convert('L'))
    if grey.dtype != bool and not np.isin(grey, (0, 1, 255)).all():
        raise ValueError(f'confidence mask {path} has values '
                         f'{np.unique(grey)[:8].tolist()}; expected 0/255 '
                         '(or 0/1)')
    return grey > 0
