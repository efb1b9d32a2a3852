# The AEFT/KTSE CAM head (fc8 + ReLU + fc9, optional background channel) on
# the SynthVOC ResNet-18 of the CAM baseline (cam_r18_synthvoc.py): trained
# from scratch, output stride 16; inference as the baseline's with the
# AEFT/KTSE order of ReLU and upsampling.
#
# Pooling: global average pooling, not the references' gated pyramid
# pooling. GPP's logits are products of the CAM with its gated pyramid, so
# they scale with the square of the CAM: from scratch, where CAMs start
# small (std 0.27), its logits are 7x smaller and its gradients 5-6x smaller
# than with GAP, and the classifier barely trains in 12 epochs (measured in
# docs/benchmarks.md). With ImageNet features (the VOC configs) CAMs start
# large and GPP is used as in the references.
_base_ = ['./cam_r18_synthvoc.py']
model = dict(
    head=dict(
        _delete_=True,
        type='GPPCAMHead',
        in_channels=512,
        mid_channels=256,
        num_classes=8,
        pooling=dict(type='GlobalAvgPool'),
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    test_cfg=dict(cam_relu='after_upsample'))
