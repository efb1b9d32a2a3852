# AEFT/KTSE schedule: the poly schedule of poly_5e.py over 40 epochs, lr 0.01
# for every layer (no x10 head), wd 5e-4, poly (power 0.9) stepped every
# iteration. The erasing losses start at epoch T (TrainEpochHook tells the
# model the epoch) and the batch grows at T (BatchSizeScheduleHook, set per
# method).
#
# Faithfulness options (defaults are the correct behaviour):
# * momentum: the reference PolyOptimizer passes the weight decay as SGD's
#   momentum (5e-4); set optim_wrapper.optimizer.momentum=5e-4 to reproduce.
# * poly max_step: the reference computes it as if the batch stayed at its
#   initial size, so its lr stops at 0.41 (KTSE) / 0.45 (AEFT) of the start;
#   BatchSizeScheduleHook(scheduler_max_iters='first_batch_size') reproduces
#   it, the default 'actual' decays over the real number of steps.
_base_ = ['./poly_5e.py']
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(_base_.param_scheduler[0], end=40)]
train_cfg = dict(max_epochs=40, val_interval=10)
