# IRN on the built-in SynthVOC, on a CPU: relation labels from the CAM
# baseline's CAMs (IRN thresholds), IRNet on the frozen stage-1 ResNet-18,
# 10 epochs of 16 crops (300 steps), random walk with the IRN settings.
_base_ = [
    '../_base_/models/irn_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_refine.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/irn_3e.py',
]
refine = dict(
    relation_label=dict(
        type='ThresholdRelationLabel', fg_thresh=0.30, bg_thresh=0.05),
    conf_mask=dict(type='ConfidenceMask', ratio=0.5))
param_scheduler = [dict(_base_.param_scheduler[0], end=10)]
train_cfg = dict(max_epochs=10)
default_hooks = dict(logger=dict(interval=10))
