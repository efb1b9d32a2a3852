# Pipelines of IRN's CAM training (step/train_cam.py): random long side
# 320-640 (bicubic), flip, random crop 512 padded with the mean colour;
# evaluation on full images with their ground truth.
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomLongSideResize', scale_range=(320, 640)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
