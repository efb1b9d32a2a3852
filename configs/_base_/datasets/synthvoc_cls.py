# SynthVOC, the built-in synthetic dataset in VOC layout (docs/synthvoc.md),
# read through the same VOC paths: classifier training on train_aug, CAM
# evaluation on val during training and on train (the subset with ground
# truth) with tools/test.py. It is generated into data_root on first use
# (deterministic, seeded).
_base_ = ['./voc12_cls.py']
dataset_type = 'SynthVOCDataset'
data_root = 'data/synthvoc'
generator_cfg = dict(seed=0)
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomRescale', ratio_range=(0.75, 1.25)),
    dict(type='RandomFlip', prob=0.5),
    # colour identifies SynthVOC's parts: jitter brightness and contrast only
    dict(type='PhotoMetricDistortion', saturation=0.0, hue=0.0),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
synthvoc = dict(
    type=dataset_type, data_root=data_root, generator_cfg=generator_cfg)
train_dataloader = dict(
    num_workers=2, dataset=dict(synthvoc, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=synthvoc)
test_dataloader = dict(num_workers=1, dataset=synthvoc)
