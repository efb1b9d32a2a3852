# SEAM (YudeWang/SEAM network/resnet38_SEAM.py): the PSA ResNet-38d of
# cam_r38d.py (dropout 0.3/0.5 in b6/b7, conv1a and b2* frozen, every BN in
# eval mode with frozen affine, the ademxapp "A1" MXNet weights converted
# with `tools/convert_weights.py mxnet-resnet38d`) returning conv4, conv5 and
# conv6; `fc8` = Dropout2d(0.5) + 1x1 conv 4096 -> 21 (background first,
# Xavier); the pixel correlation module on conv4/conv5 (detached) and the
# image (f8_3 512->64, f8_4 1024->128, Kaiming; f9 195->192, Xavier gain 4).
# Second view: the crop rescaled by 0.3 (align_corners=True); losses
# classification + adaptive min-pooling, equivariant regularisation,
# equivariant cross regularisation on the top 20%, all weight 1.
# Inference as infer_SEAM.py: scales 0.5/1/1.5/2 with flips (bicubic
# rescaling), the PCM maps, minmax_infer normalisation.
_base_ = ['./cam_r38d.py']
model = dict(
    type='SEAM',
    backbone=dict(out_indices=(1, 2, 3)),
    head=dict(num_classes=20, with_background=True, dropout_ratio=0.5),
    pcm=dict(
        type='PixelCorrelationModule',
        in_channels=(512, 1024),
        mid_channels=(64, 128),
        out_channels=192),
    view_scale=0.3,
    loss_amp=dict(type='AdaptiveMinPoolingLoss', loss_weight=1.0, ratio=0.25),
    loss_er=dict(type='EquivariantRegLoss', loss_weight=1.0),
    loss_ecr=dict(
        type='EquivariantCrossRegLoss', loss_weight=1.0, top_ratio=0.2),
    infer_maps='pcm',
    test_cfg=dict(
        scales=(0.5, 1.0, 1.5, 2.0),
        flip=True,
        norm='minmax_infer',
        resize_mode='bicubic'))
