# PASCAL VOC 2012 in the WSSS convention (see docs/data_preparation.md):
# classifier training on train_aug (10,582 images, image-level labels),
# CAM evaluation on val (1,449) during training and on train (1,464, the
# seed-evaluation split of IRN/PSA) with tools/test.py and tools/infer_cam.py.
_base_ = ['./irn_cls_pipelines.py']
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as IRN: every step sees a full batch
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages'),
        cls_label_file='cls_labels.npy',
        pipeline=_base_.train_pipeline))
# images with ground-truth masks, for CAM evaluation
gt_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    cls_label_file='cls_labels.npy',
    pipeline=_base_.test_pipeline)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(gt_dataset, ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(gt_dataset, ann_file='ImageSets/Segmentation/train.txt'))
# Background-threshold sweep 0.00..0.60 (step 0.01), constant background,
# mean IoU over all 21 classes.
val_evaluator = dict(type='CAMIoUMetric')
test_evaluator = val_evaluator
