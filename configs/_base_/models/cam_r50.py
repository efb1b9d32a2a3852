# IRN-style CAM baseline: ResNet-50, output stride 16, frozen BN, stem and
# layer1-2 without gradients; GAP + 1x1 conv classifier; multi-label
# soft-margin loss. Inference: scales (1.0, 0.5, 1.5, 2.0) with flips,
# `max` normalisation, classes of the image-level label.
data_preprocessor = dict(
    type='WSSSDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
model = dict(
    type='CAMClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        strides=(1, 2, 2, 1),  # output stride 16 (IRN)
        frozen_stages=2,
        norm_eval=True,
        # ImageNet weights: torchvision's resnet50-19c8e357.pth (as IRN).
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/resnet50-19c8e357.pth')),
    head=dict(
        type='CAMHead',
        in_channels=2048,
        num_classes=20,
        init_cfg=None,  # PyTorch's default conv init, as IRN
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    # IRN upsamples CAMs to the size rounded up to a multiple of 16, then crops
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0), flip=True, norm='max',
        upsample_stride=16))
