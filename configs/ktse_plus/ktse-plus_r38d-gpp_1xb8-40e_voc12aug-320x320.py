# KTSE+ (reading): a later, publicly circulating variant of KTSE's training
# code; no paper text exists, so this is wsstool's reading of that code, not
# a verified published method (see configs/ktse_plus/README.md). As KTSE,
# plus: MGA local at image resolution with a 1.3 factor, knowledge transfer
# on rectified upsampled CAMs, and copy-paste erasing from a foreground
# memory bank from epoch T + 1. README claim for the released
# 031net_main.pth: seed 72% mIoU.
_base_ = ['../ktse/ktse_r38d-gpp_1xb8-40e_voc12aug-320x320.py']
model = dict(
    type='KTSEPlus',
    eraser=dict(
        _delete_=True,
        type='CopyPasteEraser',
        base=dict(type='HardThresholdEraser', threshold=0.6),
        bank_size=30,
        min_bank_classes=10,
        min_bank_items=20,
        area_range=(0.1, 0.6)),
    loss_local=dict(
        type='ActivationHingeLoss', loss_weight=1.0, margin=0.05, scale=1.3),
    local_alignment='image',
    transfer_alignment='image_rectified',
    paste_delay=1)
