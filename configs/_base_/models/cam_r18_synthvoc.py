# CAM baseline sized for SynthVOC on a CPU: ResNet-18 trained from scratch
# (SynthVOC has no pretrained weights to start from), output stride 16
# (layer4 dilated instead of strided), so 128-pixel images give 8x8 CAMs.
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
        depth=18,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        frozen_stages=-1,
        norm_eval=False),
    head=dict(
        type='CAMHead',
        in_channels=512,
        num_classes=8,
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5), flip=True, norm='max', upsample_stride=16))
