# Stage-3 segmentation on the built-in SynthVOC (docs/synthvoc.md): the VOC
# settings at SynthVOC's size (128-pixel images, crop 128, 9 classes).
# Pseudo labels and confidence masks of the AffinityNet refinement config
# (configs/affinitynet/affinitynet_r18_1xb16-10e_synthvoc-128x128.py,
# tools/make_pseudo_labels.py); validation on val (SegmentationClass).
_base_ = ['./voc12_seg.py']
dataset_type = 'SynthVOCDataset'
data_root = 'data/synthvoc'
generator_cfg = dict(seed=0)
num_classes = 9
pseudo_label_dir = 'refine/affinitynet_r18/pseudo_labels'
conf_mask_dir = 'refine/affinitynet_r18/conf_masks'
crop_size = (128, 128)
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], num_classes=num_classes),
    dict(_base_.train_pipeline[2], size=crop_size),
    *_base_.train_pipeline[3:],
]
test_pipeline = [
    _base_.test_pipeline[0],
    dict(_base_.test_pipeline[1], num_classes=num_classes),
    *_base_.test_pipeline[2:],
]
synthvoc = dict(
    type=dataset_type, data_root=data_root, generator_cfg=generator_cfg)
train_dataloader = dict(
    num_workers=2,
    dataset=dict(
        synthvoc,
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        conf_mask_dir=conf_mask_dir,
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(synthvoc, pipeline=test_pipeline))
test_dataloader = val_dataloader
