# PSA-style CAM baseline: ResNet-38d (output stride 8, dropout 0.3/0.5 in
# b6/b7), conv1a and b2* frozen, every BN in eval mode with frozen affine;
# Dropout2d(0.5) + GAP + 1x1 conv `fc8` (Xavier init), multi-label
# soft-margin loss. ImageNet init: the ademxapp "A1" MXNet weights converted
# with `tools/convert_weights.py mxnet-resnet38d` (docs/model_zoo.md).
data_preprocessor = dict(
    type='WSSSDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
model = dict(
    type='CAMClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet38d',
        dropouts=(0.3, 0.5),
        out_indices=(3, ),
        frozen_stages=1,
        norm_eval=True,
        norm_frozen=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/resnet38d_ilsvrc-cls_rna-a1.pth')),
    head=dict(
        type='CAMHead',
        in_channels=4096,
        num_classes=20,
        dropout_ratio=0.5,
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    test_cfg=dict(scales=(1.0, 0.5, 1.5, 2.0), flip=True, norm='max'))
