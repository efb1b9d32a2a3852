# BECO with the recipe of SSC (NUST-Machine-Intelligence-Laboratory/SSC
# segmentation/): SSC's main.py is identical to KTSE's; its model only
# widens the multi-scale test to 0.5/0.75/1/1.25/1.5 (max fusion, no flip,
# tools/test.py --tta). SSC trains on the pseudo labels of its own stage 1;
# set train_dataloader.dataset.data_prefix.seg_map_path and conf_mask_dir to
# them (the KTSE ones are the default).
_base_ = ['./beco_deeplabv2_r101_1xb16-100e_voc12aug-512x512.py']
tta_test_cfg = dict(
    scales=(0.5, 0.75, 1.0, 1.25, 1.5),
    flip=False,
    fusion='max',
    fuse_at='head')
