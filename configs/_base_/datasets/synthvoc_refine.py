# Stage-2 refinement on the built-in SynthVOC (docs/synthvoc.md): the VOC
# refinement settings at SynthVOC's size (128-pixel images, crop 128).
# cam_dir holds the CAM baseline's train_aug CAMs (tools/infer_cam.py
# CAM_CONFIG CHECKPOINT --split ImageSets/Segmentation/train_aug.txt
# --out data/synthvoc/cams/cam_r18).
_base_ = ['./voc12_refine.py']
dataset_type = 'SynthVOCDataset'
data_root = 'data/synthvoc'
generator_cfg = dict(seed=0)
refine = dict(cam_dir='cams/cam_r18', out_dir='refine/irn_r18')
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
synthvoc = dict(
    type=dataset_type, data_root=data_root, generator_cfg=generator_cfg)
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        synthvoc,
        data_prefix=dict(seg_map_path='refine/irn_r18/relation_labels'),
        pipeline=train_pipeline))
test_dataloader = dict(
    num_workers=1, dataset=dict(synthvoc, cam_dir='cams/cam_r18'))
