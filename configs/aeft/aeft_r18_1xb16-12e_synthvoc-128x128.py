# AEFT on the built-in SynthVOC, sized for a CPU: the ResNet-18 of the CAM
# baseline with AEFT's head (GAP instead of GPP from scratch, see
# _base_/models/erasing_r18_synthvoc.py), the baseline's schedule and budget
# (12 epochs, batch 16), soft erasing, attraction and triplet repulsion
# (on the pooled maps, here the CAMs) from epoch T = 4.
# Faithfulness: AdamW as every SynthVOC config, so the reference's SGD
# quirks do not apply; classification loss on every sample (the reference
# uses the first 8 only: model.cls_loss_first_n=8).
_base_ = [
    '../_base_/models/erasing_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e_synthvoc.py',
]
model = dict(
    type='AEFT',
    eraser=dict(type='SoftCAMEraser', threshold=0.6),
    erase_start_epoch=4,
    loss_attraction=dict(type='GAPAlignmentLoss', loss_weight=0.2),
    loss_repulsion=dict(
        type='TripletRepulsionLoss',
        loss_weight=0.15,
        margin=0.5,
        low_thr=0.2,
        high_thr=1.0,
        min_hard_pairs=5))
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    dict(type='SyncBuffersHook'),
    dict(type='TrainEpochHook'),
]
