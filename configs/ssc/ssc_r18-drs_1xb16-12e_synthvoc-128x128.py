# SSC on the built-in SynthVOC, sized for a CPU: the ResNet-18 of the CAM
# baseline with DRS and a narrow x16 decoder
# (_base_/models/ssc_r18_synthvoc.py), the baseline's schedule and budget
# (12 epochs, batch 16, one AdamW for every parameter, decoder included),
# superpixel alignment from epoch 2 (the reference's 2-epoch warm-up; 2 of
# its 10 epochs, here 2 of 12).
# Faithfulness: the reconstruction loss is PerceptualLoss's pixel-space
# fallback (no ImageNet VGG-19 for a network trained from scratch), and
# AdamW replaces the reference's SGD + Adam, as in every SynthVOC config.
_base_ = [
    '../_base_/models/ssc_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e_synthvoc.py',
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # about 100 SLIC superpixels per 128-pixel image (cached under data_root)
    dict(
        type='ComputeSuperpixels',
        method='slic',
        params=dict(n_segments=100),
        cache_dir=_base_.data_root + '/superpixels'),
    dict(type='RandomRescale', ratio_range=(0.75, 1.25)),
    dict(type='RandomFlip', prob=0.5),
    # colour identifies SynthVOC's parts: jitter brightness and contrast only
    dict(type='PhotoMetricDistortion', saturation=0.0, hue=0.0),
    dict(type='RandomCropWithPad', crop_size=_base_.crop_size),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    dict(type='SyncBuffersHook'),
    dict(type='TrainEpochHook'),
]
