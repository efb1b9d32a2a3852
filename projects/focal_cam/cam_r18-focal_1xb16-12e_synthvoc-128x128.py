# The SynthVOC CAM baseline with the focal loss of the example plugin.
_base_ = ['../../configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py']
custom_imports = dict(
    imports=['projects.focal_cam.focal_loss'], allow_failed_imports=False)
model = dict(head=dict(loss_cls=dict(type='MultiLabelFocalLoss', gamma=2.0)))
