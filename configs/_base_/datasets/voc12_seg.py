# Stage-3 segmentation on PASCAL VOC 2012 (docs/data_preparation.md).
# Training: train_aug (10,582 images) with the stage-2 pseudo labels and
# confidence masks written by tools/make_pseudo_labels.py for the IRN config
# (folders relative to data_root; a config trained on other pseudo labels
# sets both folders). BECO's augmentation: a random crop of 0.5-0.75 of the
# image area with aspect ratio 3/4-4/3 resized to 512x512 (BECO's
# "RandomResizedCropMask(512, scale=[0.5, 0.75, 1, 1.5, 1.75, 2.0])" uses
# only the first two values, as an area range; it never pads), flip.
# Labels outside 0..20 and 255 stop the run, naming the file.
# Validation/test: val (1,449) against SegmentationClass at the original
# resolution, batch 1, plain mean IoU over the 21 classes. BECO resizes val
# images and labels to 512x512 for its in-training metric and reads
# SegmentationClassAug; neither is reproduced (stage-3 spec §7, §9).
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
num_classes = 21
pseudo_label_dir = 'refine/irn_r50/pseudo_labels'
conf_mask_dir = 'refine/irn_r50/conf_masks'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='LoadWSSSAnnotations',
        with_conf_mask=True,
        num_classes=num_classes),
    dict(
        type='RandomResizedCrop',
        size=crop_size,
        scale=(0.5, 0.75),
        ratio=(3 / 4, 4 / 3)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations', num_classes=num_classes),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # full (even) batches: BECO mixes image i with i + B/2
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        conf_mask_dir=conf_mask_dir,
        cls_label_file='cls_labels.npy',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        cls_label_file='cls_labels.npy',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegIoUMetric', nan_policy='plain')
test_evaluator = val_evaluator
