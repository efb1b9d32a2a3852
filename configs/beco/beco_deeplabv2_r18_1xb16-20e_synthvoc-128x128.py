# BECO on the built-in SynthVOC, on a CPU: two DeepLabV2 on the SynthVOC CAM
# baseline's ResNet-18 (output stride 8) co-trained on the AffinityNet
# pseudo labels and confidence masks of train_aug: crop 128, batch 16, SGD
# lr 0.01 poly, 20 epochs of 30 steps, warm-up 2 epochs (KTSE), the BECO
# constants of the VOC configs; validated on val every epoch.
_base_ = [
    '../_base_/models/deeplabv2_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_seg.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/seg_poly.py',
    '../_base_/models/beco.py',
]
model = dict(
    _base_.beco,
    _delete_=True,
    data_preprocessor=_base_.data_preprocessor,
    network=dict(_base_.model, data_preprocessor=None),
    warmup_epochs=2,
    test_cfg=_base_.model.test_cfg)
param_scheduler = [dict(_base_.param_scheduler[0], end=20)]
train_cfg = dict(max_epochs=20)
custom_hooks = _base_.custom_hooks + [dict(type='TrainEpochHook')]
default_hooks = dict(logger=dict(interval=10))
tta_test_cfg = dict(
    scales=(0.75, 1.0, 1.25), flip=False, fusion='max', fuse_at='head')
