# KTSE on the built-in SynthVOC, sized for a CPU: the ResNet-18 of the CAM
# baseline with KTSE's head (background channel; GAP instead of GPP from
# scratch, see _base_/models/erasing_r18_synthvoc.py), the baseline's schedule
# and budget (12 epochs, batch 16), erasing losses from epoch T = 4, every
# anchor paired with an image sharing a class.
# Faithfulness: AdamW as every SynthVOC config, so the reference's SGD
# quirks do not apply; the losses use the reference's options (see README).
_base_ = [
    '../_base_/models/erasing_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e_synthvoc.py',
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassPairedDataset',
        dataset=_base_.train_dataloader.dataset))
# erasers, PAR, thresholds and loss weights: the KTSE defaults, as listed in
# ktse_r38d-gpp_1xb8-40e_voc12aug-320x320.py
model = dict(type='KTSE', head=dict(with_background=True), erase_start_epoch=4)
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    dict(type='SyncBuffersHook'),
    dict(type='TrainEpochHook'),
]
