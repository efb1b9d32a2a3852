# SynthVOC, the built-in synthetic dataset in VOC layout (docs/synthvoc.md).
# It is generated into data_root on first use (deterministic, seeded).
# Classifier training on train_aug, CAM evaluation on val during training and
# on train (the subset with ground truth, as for VOC) with tools/test.py.
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator_cfg=generator_cfg,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages'),
        cls_label_file='cls_labels.npy',
        pipeline=train_pipeline))
# images with ground-truth masks, for CAM evaluation
gt_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    generator_cfg=generator_cfg,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    cls_label_file='cls_labels.npy',
    pipeline=test_pipeline)
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(gt_dataset, ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(gt_dataset, ann_file='ImageSets/Segmentation/train.txt'))
val_evaluator = dict(type='CAMIoUMetric')
test_evaluator = val_evaluator
