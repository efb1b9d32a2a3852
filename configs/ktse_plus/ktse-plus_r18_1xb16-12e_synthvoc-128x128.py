# KTSE+ (reading) on the built-in SynthVOC, sized for a CPU: KTSE's SynthVOC
# config with the KTSE+ differences. SynthVOC has 8 classes, so the memory
# bank activates with 6 classes and 12 crops instead of 10 and 20.
_base_ = ['../ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py']
# the KTSE+ alignment options and loss weights are the KTSEPlus defaults, as
# listed in ktse-plus_r38d-gpp_1xb8-40e_voc12aug-320x320.py
model = dict(
    type='KTSEPlus',
    eraser=dict(
        type='CopyPasteEraser',
        base=dict(type='HardThresholdEraser', threshold=0.6),
        min_bank_classes=6,
        min_bank_items=12))
