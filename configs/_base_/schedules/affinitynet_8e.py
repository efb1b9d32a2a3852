# PSA's AffinityNet schedule: 8 epochs, SGD lr 0.1, wd 5e-4, poly (power 0.9)
# stepped every iteration; biases x2 lr without weight decay, the new
# embedding x10 lr (PSA's four parameter groups); no validation.
# The reference PolyOptimizer passes the weight decay as SGD's momentum
# (5e-4); wsstool uses momentum 0.9. Set optim_wrapper.optimizer.momentum=5e-4
# to reproduce the quirk.
_base_ = ['./poly_5e.py']
optim_wrapper = dict(
    optimizer=dict(lr=0.1, weight_decay=5e-4),
    paramwise_cfg=dict(
        _delete_=True,
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [dict(_base_.param_scheduler[0], end=8)]
train_cfg = dict(max_epochs=8)
val_cfg = None
