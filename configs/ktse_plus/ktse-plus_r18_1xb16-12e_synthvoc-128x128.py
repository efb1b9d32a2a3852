# KTSE+ (reading) on the built-in SynthVOC, sized for a CPU: KTSE's SynthVOC
# config with the KTSE+ differences. SynthVOC has 8 classes, so the memory
# bank activates with 6 classes and 12 crops instead of 10 and 20.
_base_ = ['../ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py']
model = dict(
    type='KTSEPlus',
    eraser=dict(
        _delete_=True,
        type='CopyPasteEraser',
        base=dict(type='HardThresholdEraser', threshold=0.6),
        bank_size=30,
        min_bank_classes=6,
        min_bank_items=12,
        area_range=(0.1, 0.6)),
    loss_local=dict(
        type='ActivationHingeLoss', loss_weight=1.0, margin=0.05, scale=1.3),
    local_alignment='image',
    transfer_alignment='image_rectified',
    paste_delay=1)
