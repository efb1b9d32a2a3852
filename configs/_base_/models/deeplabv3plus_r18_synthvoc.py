# DeepLabV3+ sized for SynthVOC on a CPU: the ResNet-18 of the SynthVOC CAM
# baseline (torchvision layout, so a plain ResNet instead of ResNetV1d),
# loaded from its stage-1 checkpoint (keys under "backbone."), output
# stride 16 without multi-grid (layer4 has two blocks); the separable ASPP
# head on layer4 (512 channels) and layer1 (64 channels), 9 classes.
_base_ = ['./deeplabv3plus_r101-d.py']
model = dict(
    backbone=dict(
        type='ResNet',
        depth=18,
        multi_grid=None,
        init_cfg=dict(
            checkpoint='work_dirs/cam_r18_1xb16-12e_synthvoc-128x128/'
            'epoch_12.pth')),
    decode_head=dict(
        in_channels=512, low_level_channels=64, num_classes=9))
