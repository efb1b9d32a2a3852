# IRN's IRNet schedule: 3 epochs, SGD lr 0.1 for the boundary branch and 1.0
# (x10) for the displacement branch, wd 1e-4, poly (power 0.9) stepped every
# iteration; no validation (tools/test.py reports the pseudo-label mIoU).
# The reference PolyOptimizer passes the weight decay as SGD's momentum
# (1e-4); wsstool uses momentum 0.9. Set optim_wrapper.optimizer.momentum=1e-4
# to reproduce the quirk.
_base_ = ['./poly_5e.py']
optim_wrapper = dict(
    optimizer=dict(lr=0.1, weight_decay=1e-4),
    paramwise_cfg=dict(
        _delete_=True,
        custom_keys={'displacement_branch': dict(lr_mult=10.0)}))
param_scheduler = [dict(_base_.param_scheduler[0], end=3)]
train_cfg = dict(max_epochs=3)
val_cfg = None
