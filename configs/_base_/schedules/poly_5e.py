# IRN CAM schedule: 5 epochs, poly (power 0.9) decay stepped every iteration.
# The reference "PolyOptimizer" passes weight decay as SGD's momentum argument
# (momentum = 1e-4). wsstool defaults to the intended momentum 0.9; set
# optim_wrapper.optimizer.momentum=1e-4 to reproduce the quirk exactly
# (see configs/cam/cam_r50_1xb16-5e_voc12aug-512x512_legacy-sgd.py).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    # the classifier is trained from scratch with 10x the backbone lr
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1,
                    max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
