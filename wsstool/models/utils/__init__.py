from .cam_ops import (CAM_NORMS, cam_to_original, multi_scale_flip_cams,
                      normalize_cam, scaled_size)
from .state_dict import check_state_dict_shapes

__all__ = [
    'CAM_NORMS', 'cam_to_original', 'check_state_dict_shapes',
    'multi_scale_flip_cams', 'normalize_cam', 'scaled_size'
]
