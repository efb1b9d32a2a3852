# DeepLabV2 sized for SynthVOC on a CPU: the ResNet-18 of the SynthVOC CAM
# baseline (SynthVOC has no ImageNet weights), loaded from its stage-1
# checkpoint (keys under "backbone."), at output stride 8 as on VOC; the
# ASPP-v2 head on its 512 channels, 9 classes.
_base_ = ['./deeplabv2_r101.py']
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(
            checkpoint='work_dirs/cam_r18_1xb16-12e_synthvoc-128x128/'
            'epoch_12.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=512, num_classes=9))
