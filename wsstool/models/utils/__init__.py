from .cam_ops import (CAM_NORMS, CAM_RELU_MODES, RESIZE_MODES,
                      cam_to_original, multi_scale_flip_cams, normalize_cam,
                      rescale_images, scaled_size, top_class_map)
from .batch_photometric import BatchPhotometricAug
from .beco_keys import is_beco_checkpoint, map_beco_network_keys
from .cfg_defaults import merge_cfg_defaults
from .class_mix import (boundary_band, class_mix, mix_pair_indices,
                        random_class_mask)
from .dense_targets import stack_dense_field
from .crf_image import (BECO_CRF_IMAGE_MEAN, CRF_IMAGE_MODES,
                        mean_sub_uint8_wrap, read_crf_image)
from .mxnet_params import load_mxnet_params
from .negative_mining import mine_disjoint_negatives
from .resnet38d_mapping import mxnet_to_resnet38d_name
from .norm import set_bn_eval
from .path_index import (PathIndex, affinity_pair_labels, boundary_affinities,
                         destination_inside, feature_affinities,
                         search_directions, subsample_label)
from .pseudo_label import scores_to_label
from .online_pseudo_label import par_pseudo_labels
from .views import check_view_options, resize_corners, second_view_size
from .superpixel_ops import downsample_ids, stack_superpixels, superpixel_mean
from .state_dict import check_state_dict_shapes, read_pretrained_state_dict
from .unprefixed_keys import (map_unprefixed_keys, register_key_mapping_hook,
                              strip_data_parallel_prefix)

__all__ = [
    'BECO_CRF_IMAGE_MEAN', 'CRF_IMAGE_MODES', 'mean_sub_uint8_wrap',
    'read_crf_image', 'is_beco_checkpoint', 'map_beco_network_keys',
    'BatchPhotometricAug', 'boundary_band', 'class_mix', 'mix_pair_indices',
    'random_class_mask', 'stack_dense_field',
    'CAM_NORMS', 'CAM_RELU_MODES', 'RESIZE_MODES', 'cam_to_original',
    'check_state_dict_shapes', 'load_mxnet_params', 'map_unprefixed_keys',
    'mine_disjoint_negatives', 'multi_scale_flip_cams',
    'mxnet_to_resnet38d_name', 'normalize_cam', 'par_pseudo_labels',
    'rescale_images', 'scaled_size', 'set_bn_eval', 'PathIndex',
    'affinity_pair_labels', 'boundary_affinities', 'destination_inside',
    'feature_affinities', 'search_directions', 'subsample_label',
    'scores_to_label', 'merge_cfg_defaults', 'read_pretrained_state_dict',
    'register_key_mapping_hook', 'strip_data_parallel_prefix',
    'downsample_ids', 'stack_superpixels', 'superpixel_mean',
    'check_view_options', 'resize_corners', 'second_view_size',
    'top_class_map'
]
