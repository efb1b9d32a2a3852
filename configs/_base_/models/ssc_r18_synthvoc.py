# SSC sized for SynthVOC on a CPU: the ResNet-18 CAM network of
# cam_r18_synthvoc.py (from scratch, output stride 16: 8 x 8 class maps for
# 128-pixel crops) with DRS (delta 0.55) on the layer2 output and after every
# layer4 block, a narrower x16 decoder, and the superpixel alignment loss.
#
# Reconstruction loss: the pixel-space FALLBACK of PerceptualLoss
# (checkpoint=None: L1 between the reconstruction and the input image), not
# SSC's VGG-19 perceptual loss: SynthVOC networks start from scratch and
# wsstool downloads no ImageNet weights. Point loss_per.checkpoint at a
# torchvision vgg19-dcbb9e9d.pth to use the perceptual loss.
_base_ = ['./cam_r18_synthvoc.py']
model = dict(
    type='SSC',
    backbone=dict(
        type='DRSResNet',
        delta=0.55,
        block_drs_stages=(3, ),
        output_drs_stages=(1, ),
        output_drs_at_test=False),
    decoder=dict(
        type='CAMReconstructionDecoder',
        channels=(64, 32, 16, 16, 8),
        num_res_blocks=1),
    loss_per=dict(type='PerceptualLoss', checkpoint=None, loss_weight=1.0),
    # 64 x 64 superpixel grid; the erosion kernel scaled with the grid
    # (VOC and the loss default: 16 on 256 x 256)
    loss_align=dict(
        type='SuperpixelAlignmentLoss',
        loss_weight=1.0,
        size_ratio=0.5,
        reliable_thr=0.3,
        erode_size=4),
    align_start_epoch=2)
