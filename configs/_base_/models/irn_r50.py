# IRNet (IRN, Ahn et al. 2019): frozen ImageNet ResNet-50 (output stride 16,
# fixed BN; every feature detached), boundary and displacement branches on
# the stem and the four stages. Training pairs: radius 10 on the stride-4
# grid; random walk: radius 5, beta 10, 2^8 = 256 steps, constant background
# score 0.25 after normalising by the global maximum.
# ImageNet mean/std, BGR -> RGB: the preprocessor's defaults
data_preprocessor = dict(type='WSSSDataPreprocessor')
feature_channels = (64, 256, 512, 1024, 2048)
model = dict(
    type='IRNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(-1, 0, 1, 2, 3),  # -1: the stem (after max-pool)
        frozen_stages=4,
        norm_eval=True,
        # ImageNet weights: torchvision's resnet50-19c8e357.pth (as IRN).
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/resnet50-19c8e357.pth')),
    boundary_branch=dict(type='BoundaryBranch', in_channels=feature_channels),
    displacement_branch=dict(
        type='DisplacementBranch', in_channels=feature_channels),
    loss_affinity=dict(type='AffinityLoss'),
    loss_displacement=dict(type='DisplacementLoss'),
    train_cfg=dict(radius=10),
    # pad_to=None: no input padding (BECO); IRN zero-pads to 512 (pad_to=512,
    # which fails for images larger than 512).
    # random_walk mode: 'sparse' never builds the N x N transition matrix;
    # 'dense' squares it as the reference does (same result up to rounding).
    test_cfg=dict(
        radius=5,
        flip=True,
        pad_to=None,
        bg_score=0.25,
        random_walk=dict(
            type='RandomWalk', beta=10, num_steps=256, mode='sparse')))
