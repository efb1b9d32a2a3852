# DeepLabV2 as trained on pseudo labels by KTSE/SSC (segmentation/main.py,
# networks/deeplabv2.py): ResNet-101 ("resnet-B": torchvision layout, 7x7
# stem), output stride 8 (layer3/layer4 dilated 2/4, no multi-grid),
# trainable and unsynchronised BN, nothing frozen; ImageNet weights
# torchvision resnet101-cd907fc2.pth (IMAGENET1K_V2). Head: four 3x3 convs
# 2048 -> K with bias and dilations 6/12/18/24, summed (no BN, no dropout);
# logits upsampled bilinearly to the input. Plain cross-entropy on the
# pseudo labels (conf_mask_mode='ignore' ignores the non-confident pixels).
data_preprocessor = dict(
    type='WSSSDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=101,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, ),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/resnet101-cd907fc2.pth')),
    decode_head=dict(
        type='ASPPV2Head',
        in_channels=2048,
        num_classes=21,
        dilations=(6, 12, 18, 24)),
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
