# AffinityNet on the built-in SynthVOC, on a CPU: la/ha relation labels with
# alpha 4 / 24 (SEAM, PPC) from the CAM baseline's CAMs; the stage-1
# ResNet-18 fine-tuned (stem and layer1 frozen) with the embedding on
# layer1, layer2 and layer4 (strides 4, 8, 16; pairs on the stride-4 grid);
# lr 0.01 (SEAM, AEFT, PPC), 10 epochs of 16 crops; walk of 64 steps with a
# (1 - max)^6 background (SEAM).
_base_ = [
    '../_base_/models/affinitynet_r38d.py',
    '../_base_/datasets/synthvoc_refine.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/affinitynet_8e.py',
]
refine = dict(
    out_dir='refine/affinitynet_r18',
    relation_label=dict(type='AlphaRelationLabel', alphas=(4, 24)),
    conf_mask=dict(type='ConfidenceMask', ratio=0.5))
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        out_indices=(0, 1, 3),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/cam_r18_1xb16-12e_synthvoc-128x128/'
            'epoch_12.pth',
            prefix='backbone.')),
    head=dict(in_channels=(64, 128, 512)),
    test_cfg=dict(bg_power=6.0, random_walk=dict(num_steps=64)))
optim_wrapper = dict(optimizer=dict(lr=0.01))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    # colour identifies SynthVOC's parts: jitter brightness and contrast only
    dict(type='PhotoMetricDistortion', saturation=0.0, hue=0.0),
    dict(type='RandomCropWithPad', crop_size=(128, 128)),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path='refine/affinitynet_r18/relation_labels'),
        pipeline=train_pipeline))
param_scheduler = [dict(_base_.param_scheduler[0], end=10)]
train_cfg = dict(max_epochs=10)
default_hooks = dict(logger=dict(interval=10))
