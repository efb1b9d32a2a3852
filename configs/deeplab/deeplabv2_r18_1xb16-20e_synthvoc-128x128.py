# DeepLabV2 baseline on the built-in SynthVOC, on a CPU: the SynthVOC CAM
# baseline's ResNet-18 at output stride 8, trained on the AffinityNet pseudo
# labels of train_aug (crop 128, batch 16, SGD lr 0.01 poly, 20 epochs of 30
# steps), validated on val every epoch. Plain cross-entropy, so the
# confidence masks are not read.
_base_ = [
    '../_base_/models/deeplabv2_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_seg.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/seg_poly.py',
]
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], with_conf_mask=False),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(
    dataset=dict(conf_mask_dir=None, pipeline=train_pipeline))
param_scheduler = [dict(_base_.param_scheduler[0], end=20)]
train_cfg = dict(max_epochs=20)
default_hooks = dict(logger=dict(interval=10))
