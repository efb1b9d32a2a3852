from .cam_ops import (CAM_NORMS, cam_to_original, multi_scale_flip_cams,
                      normalize_cam, scaled_size)
from .mxnet_params import load_mxnet_params
from .resnet38d_mapping import mxnet_to_resnet38d_name
from .norm import set_bn_eval
from .state_dict import check_state_dict_shapes

__all__ = [
    'CAM_NORMS', 'cam_to_original', 'check_state_dict_shapes',
    'load_mxnet_params', 'multi_scale_flip_cams', 'mxnet_to_resnet38d_name',
    'normalize_cam', 'scaled_size', 'set_bn_eval'
]
