# AffinityNet as in PSA on VOC 2012 train_aug: la/ha relation labels with
# alpha 4 / 32, lr 0.1, 8 epochs of 8 crops of 448, random walk with beta 8,
# 256 steps and a (1 - max)^16 background. PSA reports 61.0 pseudo-label mIoU
# on train (ResNet-38d CAMs).
_base_ = [
    '../_base_/models/affinitynet_r38d.py',
    '../_base_/datasets/voc12_refine_affinity.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/affinitynet_8e.py',
]
refine = dict(
    relation_label=dict(type='AlphaRelationLabel', alphas=(4, 32)),
    conf_mask=dict(type='ConfidenceMask', ratio=0.5))
