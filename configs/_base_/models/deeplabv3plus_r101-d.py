# DeepLabV3+ as trained on pseudo labels by official BECO
# (networks/deeplabv3plus.py, modules/decoders/sep_aspp.py): ResNetV1d-101
# ("resnet-D": 3x3 deep stem, average-pool shortcuts), output stride 16
# (layer4 dilated 2 with multi-grid (1, 2, 4)), outputs of layer1 (256
# channels, stride 4) and layer4 (2048); ImageNet weights of mmcls
# resnetv1d101_b32x8_imagenet_20210531-6e13bcd3.pth. Head: depthwise-
# separable ASPP (rates 1/6/12/18 + image pooling, 256 channels, dropout 0.1)
# and a decoder on the 48-channel projection of layer1; logits at stride 4
# upsampled bilinearly to the input. BECO uses SyncBN: configs set
# sync_bn='torch' (converted only when training on several processes).
data_preprocessor = dict(
    type='WSSSDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1d',
        depth=101,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        multi_grid=(1, 2, 4),
        out_indices=(0, 3),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/'
            'resnetv1d101_b32x8_imagenet_20210531-6e13bcd3.pth',
            prefix='backbone.')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        low_level_channels=256,
        num_classes=21,
        channels=256,
        low_level_out_channels=48,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        in_index=-1,
        low_level_index=0),
    ignore_index=255,
    conf_mask_mode=None,
    test_cfg=dict(scales=(1.0, ), flip=False, fusion='mean'))
# Inference at the original resolution, single scale; tools/test.py --tta
# merges tta_test_cfg into model.test_cfg (mean of the logits over scales
# and flips), --crf merges crf_test_cfg: the DeepLab-v2 DenseCRF
# of BECO's test.py on the softmax of the fused logits, on the raw RGB image
# (crf_image='mean_sub_uint8_wrap' reproduces BECO test.py's image: RGB mean
# subtracted, then cast to uint8 with wrap-around).
tta_test_cfg = dict(scales=(0.75, 1.0, 1.25), flip=True, fusion='mean')
crf_test_cfg = dict(
    crf=dict(type='DenseCRF', preset='deeplab_beco'), crf_image='raw')
