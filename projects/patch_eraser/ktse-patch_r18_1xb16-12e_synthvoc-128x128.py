# KTSE on SynthVOC with the erasing strategy of the example plugin: one
# custom_imports line and one eraser line.
_base_ = ['../../configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py']
custom_imports = dict(
    imports=['projects.patch_eraser.patch_eraser'],
    allow_failed_imports=False)
model = dict(eraser=dict(type='TopPatchEraser', grid=4,
                         num_patches=2))
