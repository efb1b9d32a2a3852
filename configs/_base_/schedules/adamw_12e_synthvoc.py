# The SynthVOC schedule shared by every CAM method, so that their CAM mIoU
# compare under the same budget: 12 epochs from scratch; AdamW converges far
# more reliably than SGD there: one epoch of linear warm-up, then the poly
# decay of poly_5e.py. Loops and hooks are poly_5e.py's.
_base_ = ['./poly_5e.py']
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(_base_.param_scheduler[0], begin=1, end=12),
]
train_cfg = dict(max_epochs=12, val_interval=4)
default_hooks = dict(logger=dict(interval=10))
