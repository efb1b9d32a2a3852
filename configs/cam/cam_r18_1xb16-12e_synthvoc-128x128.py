# CAM baseline on the built-in SynthVOC, trained from scratch on a CPU in a
# few minutes.
_base_ = [
    '../_base_/models/cam_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e_synthvoc.py',
]
