"""Load images and WSSS label maps into the results dict."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from PIL import Image

from wsstool.fileio import CAM_FORMATS, load_cam, load_label_png
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
        num_classes (int, optional): K, background included. When set, a
            label map holding a value outside [0, K) other than 255 raises
            ``ValueError`` naming the file and the values. Defaults to None
            (no check).
    """

    def __init__(self,
                 with_seg_map: bool = True,
                 with_conf_mask: bool = False,
                 num_classes: int | None = None) -> None:
        if num_classes is not None and not 0 < num_classes <= 255:
            raise ValueError('LoadWSSSAnnotations num_classes must be in '
                             f'[1, 255] or None, got {num_classes!r}')
        self.with_seg_map = with_seg_map
        self.with_conf_mask = with_conf_mask
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        if self.with_seg_map:
            path = self._path(results, 'seg_map_path', "data_prefix's "
                              'seg_map_path')
            label = load_label_png(path)
            if self.num_classes is not None:
                check_label_values(label, self.num_classes, path)
            self._add(results, 'gt_seg_map', label, path)
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
                f'with_conf_mask={self.with_conf_mask}, '
                f'num_classes={self.num_classes})')


def check_label_values(label: np.ndarray, num_classes: int,
                       path: str) -> None:
    """Raise ``ValueError`` naming ``path`` and the offending values when
    the label map holds values outside [0, num_classes) other than 255."""
    values = np.unique(label)
    bad = values[((values < 0) | (values >= num_classes)) & (values != 255)]
    if bad.size:
        raise ValueError(
            f'{path} holds label values {bad[:8].tolist()} outside '
            f'[0, {num_classes}) and not 255 (ignore); expected class ids of '
            f'a {num_classes}-class dataset (check num_classes and the '
            'label folder)')


def read_conf_mask(path: str) -> np.ndarray:
    """Read a binary confidence-mask PNG as bool (H, W)."""
    with Image.open(path) as img:
        grey = np.array(img if img.mode in ('1', 'L') else img.convert('L'))
    if grey.dtype != bool and not np.isin(grey, (0, 1, 255)).all():
        raise ValueError(f'confidence mask {path} has values '
                         f'{np.unique(grey)[:8].tolist()}; expected 0/255 '
                         '(or 0/1)')
    return grey > 0


@TRANSFORMS.register_module()
class LoadCAMFromFile(BaseTransform):
    """Load the stage-1 CAMs of an image from ``results['cam_path']`` (set
    by the dataset's ``cam_dir``), for refinement.

    Added keys: ``cam`` float32 (K, H, W) and ``cam_class_ids`` int64 (K,)
    (foreground indices), packed into ``pred_cam`` by
    :class:`PackWSSSInputs`. The CAMs are not resized by later transforms:
    use it in pipelines that keep the original image size.

    Args:
        fmt (str): ``'auto'`` or one of ``'npz'``, ``'psa'``, ``'irn'`` (see
            :func:`wsstool.fileio.load_cam`). Defaults to 'auto'.
        check_classes (bool): Require the CAM classes to be exactly the
            image-level label's classes (``gt_label``). Defaults to True.
    """

    def __init__(self, fmt: str = 'auto', check_classes: bool = True) -> None:
        if fmt not in ('auto', ) + CAM_FORMATS:
            raise ValueError(f'LoadCAMFromFile fmt must be "auto" or one of '
                             f'{CAM_FORMATS}, got {fmt!r}')
        self.fmt = fmt
        self.check_classes = check_classes

    def transform(self, results: dict) -> dict:
        path = results.get('cam_path')
        if path is None:
            raise KeyError(f'image {results.get("img_id")!r} has no cam_path;'
                           ' set cam_dir in the dataset config')
        class_ids, cam = load_cam(path, self.fmt)
        size = tuple(results.get('ori_shape', cam.shape[1:]))
        if len(class_ids) and cam.shape[1:] != size:
            raise ValueError(
                f'{path} holds CAMs of size {cam.shape[1:]}, but its image '
                f'{results.get("img_path")} has size {size}')
        if self.check_classes and 'gt_label' in results:
            expected = np.flatnonzero(np.asarray(results['gt_label']) > 0)
            if sorted(class_ids.tolist()) != expected.tolist():
                raise ValueError(
                    f'{path} holds CAMs of the classes {class_ids.tolist()}, '
                    f'but the image-level label of {results.get("img_id")!r}'
                    f' has the classes {expected.tolist()}: the CAMs belong '
                    'to another image or class set')
        if not len(class_ids):
            cam = np.zeros((0, ) + size, np.float32)
        results['cam'] = cam
        results['cam_class_ids'] = class_ids
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fmt={self.fmt!r}, '
                f'check_classes={self.check_classes})')
