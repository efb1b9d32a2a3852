# IRNet sized for SynthVOC on a CPU: the frozen backbone is the ResNet-18 of
# the SynthVOC CAM baseline (SynthVOC has no ImageNet weights), loaded from
# its stage-1 checkpoint (keys under "backbone.").
_base_ = ['./irn_r50.py']
feature_channels = (64, 64, 128, 256, 512)
model = dict(
    backbone=dict(
        depth=18,
        dilations=(1, 1, 1, 2),
        init_cfg=dict(
            checkpoint='work_dirs/cam_r18_1xb16-12e_synthvoc-128x128/'
            'epoch_12.pth',
            prefix='backbone.')),
    boundary_branch=dict(in_channels=feature_channels),
    displacement_branch=dict(in_channels=feature_channels))
