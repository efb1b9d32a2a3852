from .cam_ops import (CAM_NORMS, CAM_RELU_MODES, RESIZE_MODES,
                      cam_to_original, multi_scale_flip_cams, normalize_cam,
                      rescale_images, scaled_size)
from .cfg_defaults import merge_cfg_defaults
from .mxnet_params import load_mxnet_params
from .negative_mining import mine_disjoint_negatives
from .resnet38d_mapping import mxnet_to_resnet38d_name
from .norm import set_bn_eval
from .path_index import (PathIndex, affinity_pair_labels, boundary_affinities,
                         destination_inside, feature_affinities,
                         search_directions, subsample_label)
from .pseudo_label import scores_to_label
from .online_pseudo_label import par_pseudo_labels
from .state_dict import check_state_dict_shapes, read_pretrained_state_dict
from .unprefixed_keys import (map_unprefixed_keys, register_key_mapping_hook,
                              strip_data_parallel_prefix)

__all__ = [
    'CAM_NORMS', 'CAM_RELU_MODES', 'RESIZE_MODES', 'cam_to_original',
    'check_state_dict_shapes', 'load_mxnet_params', 'map_unprefixed_keys',
    'mine_disjoint_negatives', 'multi_scale_flip_cams',
    'mxnet_to_resnet38d_name', 'normalize_cam', 'par_pseudo_labels',
    'rescale_images', 'scaled_size', 'set_bn_eval', 'PathIndex',
    'affinity_pair_labels', 'boundary_affinities', 'destination_inside',
    'feature_affinities', 'search_directions', 'subsample_label',
    'scores_to_label', 'merge_cfg_defaults', 'read_pretrained_state_dict',
    'register_key_mapping_hook', 'strip_data_parallel_prefix'
]
