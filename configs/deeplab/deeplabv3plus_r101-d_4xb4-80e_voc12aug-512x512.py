# DeepLabV3+ R101-D baseline on the IRN pseudo labels of VOC 2012 train_aug:
# one network with the stage-3 settings of official BECO main.py, without
# co-training: 4 GPUs x 4 images (total 16), SyncBN, crop 512 (area
# 0.5-0.75, aspect 3/4-4/3), flip, SGD lr 0.01 poly 0.9 per iteration,
# 80 epochs, seed 3223. Plain cross-entropy on the pseudo labels, so the
# confidence masks are not read.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d.py',
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
    batch_size=4, dataset=dict(conf_mask_dir=None, pipeline=train_pipeline))
param_scheduler = [dict(_base_.param_scheduler[0], end=80)]
train_cfg = dict(max_epochs=80)
sync_bn = 'torch'  # applied when training on several processes
randomness = dict(seed=3223)
