"""Data sample that travels through the WSSS stages."""
from mmengine.structures import BaseDataElement, PixelData


class WSSSDataSample(BaseDataElement):
    """One image's annotations and predictions.

    Data fields:
        gt_label (Tensor): (C,) float multi-hot image-level label over the
            foreground classes (index 0 is the first foreground class).
        gt_sem_seg (PixelData): ``data`` (1, H, W) int64 class ids, 255 ignore.
        conf_mask (PixelData): ``data`` (1, H, W) bool, True = confident.
        valid_mask (PixelData): ``data`` (1, H, W) bool, False on padding.
        superpixel (PixelData): ``data`` (1, H, W) int64 superpixel ids
            (SSC; padding is marked by ``valid_mask``).
        pred_cam (BaseDataElement): ``cam`` (K, H, W) float CAMs at the
            original image resolution for the classes ``class_ids`` (K,) int64
            (foreground indices, 0 = first foreground class).
        pred_sem_seg (PixelData): ``data`` (1, H, W) int64 predicted ids.
        seg_logits (PixelData): ``data`` (K, H, W) float segmentation logits
            (before softmax) at the original resolution.
        pred_scores (BaseDataElement): ``score`` (K + 1, H, W) float refined
            scores (channel 0 = background, k + 1 = class ``class_ids[k]``)
            and ``class_ids`` (K,) int64; the pseudo label is their arg-max.

    Meta fields (from the pipeline): ``img_id``, ``img_path``,
    ``ori_shape``, ``img_shape``, ``flip``, ``flip_direction``, ...
    """

    def _field(name: str, value_type: type):  # noqa: N805

        def getter(self):
            return getattr(self, f'_{name}')

        def setter(self, value):
            self.set_field(value, f'_{name}', dtype=value_type)

        def deleter(self):
            delattr(self, f'_{name}')

        return property(getter, setter, deleter)

    gt_label = _field('gt_label', object)
    gt_sem_seg = _field('gt_sem_seg', PixelData)
    conf_mask = _field('conf_mask', PixelData)
    valid_mask = _field('valid_mask', PixelData)
    superpixel = _field('superpixel', PixelData)
    pred_cam = _field('pred_cam', BaseDataElement)
    pred_sem_seg = _field('pred_sem_seg', PixelData)
    pred_scores = _field('pred_scores', BaseDataElement)
    seg_logits = _field('seg_logits', PixelData)
    del _field
