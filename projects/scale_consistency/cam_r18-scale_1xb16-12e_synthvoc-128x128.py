_base_ = ['../../configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py']
custom_imports = dict(
    imports=['projects.scale_consistency.scale_consistency'],
    allow_failed_imports=False)
model = dict(aux_losses=[dict(type='ScaleConsistencyLoss', scale=0.5)])
