# SEAM sized for SynthVOC on a CPU: the ResNet-18 of the CAM baseline
# (cam_r18_synthvoc.py, from scratch) at output stride 8 like SEAM's
# ResNet-38d (layer3/layer4 dilated 2/4 instead of strided), so a 128-pixel
# crop gives 16x16 maps and the second view (scale 0.5) 8x8. It returns
# layer2 (128 ch), layer3 (256 ch) and layer4 (512 ch): the PCM reads the
# first two, projected to 1/8 of their channels as in SEAM (16 and 32; f9
# 51 -> 48). Head: the baseline's 1x1 classifier with a background channel
# and no dropout (as the baseline). Inference: the baseline's scales and
# flip on the PCM maps, SEAM's minmax_infer normalisation.
_base_ = ['./cam_r18_synthvoc.py']
model = dict(
    type='SEAM',
    backbone=dict(
        strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), out_indices=(1, 2, 3)),
    head=dict(with_background=True),
    pcm=dict(
        type='PixelCorrelationModule',
        in_channels=(128, 256),
        mid_channels=(16, 32),
        out_channels=48),
    view_scale=0.5,
    test_cfg=dict(norm='minmax_infer', upsample_stride=None))
