# DeepLabV2 R101 baseline on the IRN pseudo labels of VOC 2012 train_aug:
# one network with the stage-3 settings of KTSE/SSC main.py, without
# co-training: batch 16 on one GPU, crop 512 (area 0.5-0.75, aspect
# 3/4-4/3), flip, SGD lr 0.01 poly 0.9 per iteration, 100 epochs, seed 3223.
# Plain cross-entropy on the pseudo labels, so the confidence masks are not
# read (model.conf_mask_mode='ignore' with the masks would ignore the
# non-confident pixels).
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/voc12_seg.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/seg_poly.py',
]
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], with_conf_mask=False),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(
    dataset=dict(conf_mask_dir=None, pipeline=train_pipeline))
randomness = dict(seed=3223)
