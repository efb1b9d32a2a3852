# Stage-3 schedule of BECO (official and KTSE/SSC main.py): SGD lr 0.01,
# momentum 0.9, weight decay 1e-4 on every parameter (BN and biases
# included, no head multiplier); poly decay (power 0.9) stepped every
# iteration over the whole run. BECO clamps lr = max(0.01 (1 - t)^0.9, 1e-5)
# (t = iteration / total); mmengine's PolyLR decays to eta_min instead,
# lr = (0.01 - 1e-5) (1 - t)^0.9 + 1e-5: the two differ by less than 1e-5.
# Configs set max_epochs and the scheduler's end together.
#
# Validation on val after every epoch. CheckpointHook keeps the last two
# epochs and the last one, and the best val mIoU as
# best_seg_mIoU_epoch_<e>.pth. BECO reports its best-on-val checkpoint
# (selection on the evaluation split); wsstool reports the last checkpoint
# and marks best-on-val numbers as such.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=100,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=2,
        save_last=True,
        save_best='seg/mIoU',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
