"""Example out-of-tree eraser plugin (docs/add_plugin.md): erase the grid
patches where the foreground CAM is strongest, registered from outside
``wsstool/`` and loaded with ``custom_imports``."""
import torch.nn.functional as F
from torch import Tensor

from wsstool.models.erasers import BaseEraser, ErasingInputs
from wsstool.registry import ERASERS


@ERASERS.register_module()
class TopPatchEraser(BaseEraser):
    """Split the image into ``grid x grid`` patches and erase the
    ``num_patches`` patches with the highest mean foreground CAM (a coarse,
    shape-agnostic alternative to thresholding the CAM).

    Args:
        grid (int): Patches per side.
        num_patches (int): Patches erased per image.
    """

    def __init__(self, grid: int = 4, num_patches: int = 2) -> None:
        super().__init__()
        if not 0 < num_patches <= grid * grid:
            raise ValueError(f'TopPatchEraser num_patches={num_patches}; '
                             f'expected 1..{grid * grid} for grid={grid}.')
        self.grid = grid
        self.num_patches = num_patches

    def forward(self, inputs: ErasingInputs) -> Tensor:
        """(B, 3, H, W) images with their strongest patches set to 0."""
        size = inputs.images.shape[-2:]
        patch_means = F.adaptive_avg_pool2d(inputs.fg_cam, self.grid)
        flat = patch_means.flatten(1)
        top = flat.topk(self.num_patches, dim=1).indices
        erase = flat.new_zeros(flat.shape).scatter_(1, top, 1.0)
        erase = erase.view_as(patch_means)
        keep = 1.0 - F.interpolate(erase, size=size, mode='nearest')
        return inputs.images * keep
