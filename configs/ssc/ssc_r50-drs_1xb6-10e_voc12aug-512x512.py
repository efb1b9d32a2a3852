# SSC (IEEE TIP) CAM training on VOC 2012 with the reference
# hyper-parameters (NUST-Machine-Intelligence-Laboratory/SSC run_sample.py,
# step/train_cam.py): IRN ResNet-50 + DRS, train_aug, 1 GPU x 6 images,
# 10 epochs, random long side 320-640, flip, crop 512 (padded with the mean
# colour); L = L_cls + L_per (from step 0) + L_align (from epoch 2).
# Optimisers as the reference: SGD for the CAM network (lr 0.1, classifier
# x10 = 1.0, wd 1e-4) and Adam for the decoder (lr 5e-4, betas (0.5, 0.999),
# no weight decay), every learning rate with poly 0.9 decay over all
# iterations. Momentum 0.9 (correct SGD); the reference's PolyOptimizer
# passes the weight decay as momentum: set
# optim_wrapper.backbone.optimizer.momentum=1e-4 and
# optim_wrapper.head.optimizer.momentum=1e-4 to reproduce it.
# Deviations: crop padding pixels are left out of the alignment loss (the
# reference counts them as one more superpixel; to reproduce it set
# model.loss_align.ignore_invalid=False); superpixels are computed with
# scikit-image SLIC (the reference downloads its own).
# Several processes (tools/dist_train.sh): the dict of optimisers needs the
# model wrapper below; one process ignores it.
# Inference: IRN make_cam (scales 1.0/0.5/1.5/2.0 with flips, max norm).
# CAM evaluation: SSC reports a constant background 0.20 (IRN eval_cam.py);
# wsstool sweeps 0.00-0.60, which includes it; to match exactly use
# --cfg-options test_evaluator.thresholds=[0.20]
# test_evaluator.nan_policy=nanmean
_base_ = [
    '../_base_/models/ssc_r50.py',
    '../_base_/datasets/voc12_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/poly_5e.py',
]
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # superpixels of the image as loaded (SLIC, cached under data_root);
    # SSC downloads precomputed ones instead
    dict(
        type='ComputeSuperpixels',
        method='slic',
        cache_dir=_base_.data_root + '/superpixels'),
    dict(type='RandomLongSideResize', scale_range=(320, 640)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithPad', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(batch_size=6, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    _delete_=True,
    constructor='MultiOptimWrapperConstructor',
    backbone=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)),
    head=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=1.0, momentum=0.9, weight_decay=1e-4)),
    decoder=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=5e-4, betas=(0.5, 0.999), weight_decay=0.0)))
# under DDP, one backward pass through the wrapper steps every optimiser
model_wrapper_cfg = dict(
    type='wsstool.MultiOptimDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
poly_schedule = dict(_base_.param_scheduler[0], end=10)
param_scheduler = dict(
    _delete_=True, backbone=[poly_schedule], head=[poly_schedule],
    decoder=[poly_schedule])
train_cfg = dict(max_epochs=10, val_interval=10)
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    dict(type='SyncBuffersHook'),
    dict(type='TrainEpochHook'),
]
