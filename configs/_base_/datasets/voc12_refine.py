# Stage-2 refinement on PASCAL VOC 2012 (see docs/refinement.md).
# `refine` names the inputs and outputs of tools/make_pseudo_labels.py,
# folders relative to data_root like every dataset path:
# * cam_dir: stage-1 CAMs of train_aug (tools/infer_cam.py --split
#   ImageSets/Segmentation/train_aug.txt --out <data_root>/<cam_dir>);
# * out_dir: relation_labels/ (training labels of the refinement network),
#   pseudo_labels/, scores/ (fp16) and conf_masks/;
# * split: the images refined (train_aug: the segmentation training set; the
#   reference IRN default, train.txt, is not);
# * eval_split: images with ground truth for the pseudo-label mIoU (train,
#   1,464, as IRN's eval_sem_seg; nan-mean over classes as chainercv).
# A config that changes refine.out_dir must set the training dataset's
# seg_map_path to <out_dir>/relation_labels too.
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
refine = dict(
    cam_dir='cams/cam_r50',
    cam_suffix='.npz',
    out_dir='refine/irn_r50',
    split='ImageSets/Segmentation/train_aug.txt',
    eval_split='ImageSets/Segmentation/train.txt',
    eval_seg_map_path='SegmentationClass',
    eval_nan_policy='nanmean')
# IRN's VOC12AffinityDataset: rescale 0.5-1.5 (image bicubic, label
# nearest), flip, crop 512 (label padded with 255 = ignore).
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
# tools/test.py: pseudo labels of the images with ground truth
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='LoadCAMFromFile'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=refine['split'],
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path=refine['out_dir'] + '/relation_labels'),
        cls_label_file='cls_labels.npy',
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=refine['eval_split'],
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path=refine['eval_seg_map_path']),
        cls_label_file='cls_labels.npy',
        cam_dir=refine['cam_dir'],
        cam_suffix=refine['cam_suffix'],
        pipeline=test_pipeline))
test_evaluator = dict(type='SegIoUMetric', nan_policy='nanmean')
