# AffinityNet training data (PSA's VOC12AffDataset): colour jitter
# (0.3, 0.3, 0.3, 0.1), flip and a random 448 crop (label padded with 255),
# batch 8; relation labels from the la/ha CRF maps (AlphaRelationLabel).
_base_ = ['./voc12_refine.py']
refine = dict(cam_dir='cams/cam_r38d', out_dir='refine/affinitynet_r38d')
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        data_prefix=dict(
            seg_map_path='refine/affinitynet_r38d/relation_labels'),
        pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(cam_dir='cams/cam_r38d'))
