# PPC attached to KTSE on SynthVOC: the KTSE config unchanged (ResNet-18 at
# output stride 16, erasing from epoch 4, 12 epochs, batch 16) plus the
# pixel-to-prototype contrast on the anchors' backbone feature (512
# channels) and raw foreground CAMs, from the first epoch. Second view: the
# anchors resized to 64x64 (4x4 maps), as in
# ppc_cam_r18_1xb16-12e_synthvoc-128x128.py. Every other PPC option is the
# reference's (see README.md).
_base_ = ['../ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py']
model = dict(aux_losses=[
    dict(type='PixelPrototypeContrast', in_channels=512, view_size=(64, 64))
])
