# MS-COCO 2014 in the WSSS convention (docs/data_preparation.md): classifier
# training on train2014 with image-level labels, CAM evaluation on val2014
# (40,504 images; ground-truth masks from tools/prepare_coco.py).
_base_ = ['./irn_cls_pipelines.py']
dataset_type = 'COCODataset'
data_root = 'data/coco'
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as IRN: every step sees a full batch
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(img_path='train2014'),
        cls_label_file='cls_labels_train2014.npy',
        # reference pipelines keep images without objects; many papers
        # count only those with one (82,081 of 82,783)
        drop_empty_images=False,
        pipeline=_base_.train_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/val2014.txt',
        data_prefix=dict(img_path='val2014', seg_map_path='mask/val2014'),
        cls_label_file='cls_labels_val2014.npy',
        pipeline=_base_.test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='CAMIoUMetric')
test_evaluator = val_evaluator
