# PPC attached to the SynthVOC CAM baseline: the baseline's ResNet-18, head,
# schedule and budget (12 epochs, batch 16, AdamW), plus the pixel-to-
# prototype contrast on the head's input feature (512 channels) and raw CAMs.
# Second view: the crop resized to 64x64. The baseline has output stride 16
# (8x8 maps for a 128-pixel crop), so the second view has 4x4 maps, and the
# prototypes take K = 16 / 8 = 2 positions of the 16 x 4 x 4 in a batch; a
# 128x128 second view (the reference's, for 448-pixel crops) would repeat the
# crop itself. Every other PPC option is the reference's (see README.md).
_base_ = ['../cam/cam_r18_1xb16-12e_synthvoc-128x128.py']
model = dict(aux_losses=[
    dict(type='PixelPrototypeContrast', in_channels=512, view_size=(64, 64))
])
