# SEAM + PPC on the built-in SynthVOC: the SEAM SynthVOC config unchanged
# (ResNet-18 from scratch at output stride 8, so 16x16 maps for a 128-pixel
# crop; second view at scale 0.5, 8x8 maps; 12 epochs, batch 16, AdamW) plus
# the pixel-to-prototype contrast on the classifier input (512 channels) and
# the PCM maps of both views. K = 64 / 8 = 8 positions per prototype. Every
# PPC option is the reference's (see README.md); no lr multiplier, as every
# layer trains from scratch here.
_base_ = ['../seam/seam_r18_1xb16-12e_synthvoc-128x128.py']
model = dict(aux_losses=[
    # SEAM passes both views, so the loss needs no view_size of its own
    dict(type='PixelPrototypeContrast', in_channels=512, view_size=None)
])
