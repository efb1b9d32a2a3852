# SSC network (NUST-Machine-Intelligence-Laboratory/SSC net/resnet50_cam.py,
# net/resnet50_drs.py, net/decoder.py): the IRN ResNet-50 CAM network
# (cam_r50.py: output stride 16, fixed BN, stem and layer1-2 without
# gradients, bias-free 1x1 classifier) with discriminative region suppression
# (delta 0.55) on the layer2 output and after every layer4 block, a decoder
# reconstructing the image from the 20 raw class maps (x16 upsampling) under
# a VGG-19 perceptual loss, and the superpixel alignment loss from epoch 2.
_base_ = ['./cam_r50.py']
model = dict(
    type='SSC',
    backbone=dict(
        type='DRSResNet',
        delta=0.55,
        block_drs_stages=(3, ),
        output_drs_stages=(1, ),
        # the reference's inference network has no layer2 DRS (its layer4
        # DRS remains); True runs inference with the training network
        output_drs_at_test=False),
    decoder=dict(
        type='CAMReconstructionDecoder',
        channels=(256, 256, 128, 64, 32),
        num_res_blocks=1),
    # torchvision's ImageNet VGG-19 (vgg19-dcbb9e9d.pth), read from the file,
    # never downloaded; relu1_1..relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1
    loss_per=dict(
        type='PerceptualLoss',
        checkpoint='pretrained/vgg19-dcbb9e9d.pth',
        loss_weight=1.0),
    # superpixel grid at half the crop (256 for 512); the released
    # step/train_cam.py erodes the reliable region with a 16 x 16 kernel
    # (the paper's text says 8 x 8); crop padding pixels are excluded
    # (ignore_invalid=True, a deviation: the reference counts the padding as
    # one more superpixel, ignore_invalid=False reproduces it)
    loss_align=dict(
        type='SuperpixelAlignmentLoss',
        loss_weight=1.0,
        size_ratio=0.5,
        reliable_thr=0.3,
        erode_size=16,
        ignore_invalid=True),
    align_start_epoch=2,
    # the reference compares the tanh output with the ImageNet-normalised
    # image ('tanh_range' maps the image to [-1, 1] instead)
    perceptual_target='normalized')
