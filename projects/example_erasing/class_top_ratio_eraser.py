"""Example eraser plugin of docs/benchmarking.md: erase, for every class in
the image, the same fraction of its pixels, those where its CAM is
strongest, softly."""
import math

from torch import Tensor

from wsstool.models.erasers import BaseEraser, ErasingInputs
from wsstool.registry import ERASERS


@ERASERS.register_module()
class ClassTopRatioEraser(BaseEraser):
    """Erase the top ``ratio`` of each present class's CAM pixels with a
    soft mask.

    For every class c of the image, the ``k = ceil(ratio * H * W)`` pixels
    with the highest normalised CAM ``cam_c`` are selected (every pixel tied
    with the k-th value too). A selected pixel is scaled by ``1 - cam_c``:
    the CAM's peak becomes the mean colour (0), weaker selected pixels are
    only dimmed; a pixel selected by several classes takes the strongest
    erasing, unselected pixels are kept. Unlike a threshold on the
    foreground CAM (``HardThresholdEraser``, ``SoftCAMEraser``), every class
    loses the same area whatever the scale of its CAM, so a weakly
    activated class is erased as much as a strong one.

    Reads ``class_cams`` of the :class:`ErasingInputs`.

    Args:
        ratio (float): Fraction of the image's pixels selected per class,
            in (0, 1].
    """

    def __init__(self, ratio: float = 0.1) -> None:
        super().__init__()
        if not 0 < ratio <= 1:
            raise ValueError(f'ClassTopRatioEraser ratio={ratio!r}: expected '
                             'a fraction of the image in (0, 1]')
        self.ratio = float(ratio)

    def forward(self, inputs: ErasingInputs) -> Tensor:
        """(B, 3, H, W) images scaled by the (B, 1, H, W) soft keep mask."""
        if inputs.class_cams is None:
            raise ValueError('ClassTopRatioEraser needs '
                             'ErasingInputs.class_cams (B, C, H, W), got None')
        batch, _, height, width = inputs.images.shape
        cams = inputs.class_cams.flatten(2)                     # (B, C, HW)
        k = math.ceil(self.ratio * height * width)
        kth_value = cams.topk(k, dim=2).values[..., -1:]        # (B, C, 1)
        present = inputs.labels[:, :, None] > 0
        selected = (cams >= kth_value) & present
        erase = (cams * selected).amax(dim=1)                   # (B, HW)
        keep = (1.0 - erase).view(batch, 1, height, width)
        return inputs.images * keep

    def extra_repr(self) -> str:
        return f'ratio={self.ratio}'
