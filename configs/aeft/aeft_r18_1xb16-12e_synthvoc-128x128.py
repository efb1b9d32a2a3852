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
# eraser, loss weights and margin: the AEFT defaults, as listed in
# aeft_r38d-gpp_1xb8-40e_voc12aug-320x320.py
model = dict(type='AEFT', erase_start_epoch=4)
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    dict(type='SyncBuffersHook'),
    dict(type='TrainEpochHook'),
]
