# ResNet-38d + GPP CAM head of AEFT/KTSE (`Net_gpp`): the PSA ResNet-38d of
# cam_r38d.py (conv1a and b2* frozen, every BN in eval mode with frozen
# affine, converted ImageNet weights) with dropout 0.2/0.2 in b6/b7;
# fc8 (4096->256) + ReLU, bn8 (unused), fc9 (256->20, or 21 with the
# background channel of KTSE), gated pyramid pooling for the class logits.
# Inference as their `infer_multi`: scales 0.5/1/1.5/2 with flips, bicubic
# rescaling, each raw CAM upsampled, then rectified, summed, max-normalised.
_base_ = ['./cam_r38d.py']
model = dict(
    backbone=dict(dropouts=(0.2, 0.2)),
    head=dict(
        _delete_=True,
        type='GPPCAMHead',
        in_channels=4096,
        mid_channels=256,
        num_classes=20,
        pooling=dict(type='GatedPyramidPool', grid_sizes=(2, 4, 8, 16)),
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    test_cfg=dict(
        scales=(0.5, 1.0, 1.5, 2.0),
        flip=True,
        norm='max',
        cam_relu='after_upsample',
        resize_mode='bicubic'))
