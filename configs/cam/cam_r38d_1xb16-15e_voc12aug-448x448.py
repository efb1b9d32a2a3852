# PSA's CAM baseline on VOC 2012 (jiwoon-ahn/psa train_cls.py / infer_cls.py):
# ResNet-38d, train_aug, batch 16, 15 epochs, random long side 256-512
# (bicubic), flip, ColorJitter(0.3, 0.3, 0.3, 0.1), crop 448 (padded with
# the mean colour), lr 0.1 with fc8 at x10, wd 5e-4, poly 0.9.
# Reported: CAM mIoU 47.7 on train (PSA README). Optimiser: momentum 0.9
# (correct SGD); PSA's PolyOptimizer passes the weight decay as momentum
# (5e-4): set optim_wrapper.optimizer.momentum=5e-4 to reproduce it.
_base_ = [
    '../_base_/models/cam_r38d.py',
    '../_base_/datasets/voc12_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/poly_5e.py',
]
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomLongSideResize', scale_range=(256, 512)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness=0.3, contrast=0.3,
         saturation=0.3, hue=0.1),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=5e-4))
param_scheduler = [dict(_base_.param_scheduler[0], end=15)]
train_cfg = dict(max_epochs=15, val_interval=15)
