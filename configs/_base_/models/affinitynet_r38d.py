# AffinityNet (PSA, Ahn & Kwak 2018): ResNet-38d (conv1a..b2_2 and every BN
# frozen, dropout 0.3/0.5) with PSA's f8_3/f8_4/f8_5/f9 embedding on conv4,
# conv5 and conv6 (stride 8); affinity exp(-mean |f_i - f_j|) over pairs
# within radius 5. Random walk: beta 8, background (1 - max CAM)^power walked
# with the CAMs.
# Faithfulness options (defaults are the correct behaviour):
# * test_cfg.border_pairs: 'full' keeps every pair inside the image;
#   'source_crop' reproduces the reference, whose pairs only start in
#   rows [0, h - 4) and columns [4, w - 4) of the stride-8 grid.
# * test_cfg.random_walk.mode: 'sparse' never builds the N x N matrix;
#   'dense' squares it as the reference does (same result up to rounding).
# ImageNet mean/std, BGR -> RGB: the preprocessor's defaults
data_preprocessor = dict(type='WSSSDataPreprocessor')
model = dict(
    type='AffinityNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet38d',
        out_indices=(1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/resnet38d_ilsvrc-cls_rna-a1.pth')),
    head=dict(type='AffinityHead', in_channels=(512, 1024, 4096)),
    loss_affinity=dict(type='AffinityLoss'),
    train_cfg=dict(radius=5),
    test_cfg=dict(
        radius=5,
        bg='power',
        bg_power=16.0,
        border_pairs='full',
        random_walk=dict(
            type='RandomWalk', beta=8, num_steps=256, mode='sparse'),
        crf=None))
