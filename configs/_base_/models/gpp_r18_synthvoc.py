# The AEFT/KTSE GPP CAM head on the SynthVOC ResNet-18 of the CAM baseline
# (configs/_base_/models/cam_r18_synthvoc.py): trained from scratch, output
# stride 16; inference as the baseline's with the AEFT/KTSE order of ReLU
# and upsampling.
_base_ = ['./cam_r18_synthvoc.py']
model = dict(
    head=dict(
        _delete_=True,
        type='GPPCAMHead',
        in_channels=512,
        mid_channels=256,
        num_classes=8,
        pooling=dict(type='GatedPyramidPool', grid_sizes=(2, 4, 8, 16)),
        loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0)),
    test_cfg=dict(cam_relu='after_upsample'))
