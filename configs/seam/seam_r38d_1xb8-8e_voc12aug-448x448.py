# SEAM (CVPR 2020) on VOC 2012 with the reference hyper-parameters
# (YudeWang/SEAM train_SEAM.py / infer_SEAM.py): ResNet-38d, train_aug,
# batch 8, 8 epochs, random long side 448-768 (bicubic), flip,
# ColorJitter(0.3, 0.3, 0.3, 0.1), crop 448 (padded with the mean colour),
# lr 0.01 with fc8, f8_3, f8_4, f9 at x10, wd 5e-4, poly 0.9 per iteration.
# Reported: VOC val 64.5 / test 65.7 after AffinityNet + DeepLab (paper);
# the commonly quoted seed 55.41 (train) is unverified.
#
# Faithfulness: correct SGD momentum 0.9. SEAM's PolyOptimizer passes the
# weight decay as SGD's momentum (5e-4): set
# optim_wrapper.optimizer.momentum=5e-4 to reproduce it. Everything else
# (0.3 rescale, PCM without gradient into the backbone, AMP term, top-20%
# ECR) is the reference's; see configs/seam/README.md.
_base_ = [
    '../_base_/models/seam_r38d.py',
    '../_base_/datasets/voc12_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/poly_5e.py',
]
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomLongSideResize', scale_range=(448, 768)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness=0.3, contrast=0.3,
         saturation=0.3, hue=0.1),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=5e-4),
    # the from-scratch layers fc8 (head) and f8_3, f8_4, f9 (pcm)
    paramwise_cfg=dict(custom_keys={
        'head': dict(lr_mult=10.0),
        'pcm': dict(lr_mult=10.0)
    }))
param_scheduler = [dict(_base_.param_scheduler[0], end=8)]
train_cfg = dict(max_epochs=8, val_interval=8)
# the CAMs are minmax_infer-normalised (recorded with the metric)
val_evaluator = dict(cam_norm='minmax_infer')
test_evaluator = val_evaluator
