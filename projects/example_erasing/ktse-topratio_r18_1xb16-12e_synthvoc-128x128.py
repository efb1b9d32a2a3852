# KTSE on SynthVOC with the example plugin's erasing strategy: the top 10 %
# of each class's CAM pixels erased softly instead of the foreground CAM
# above 0.6. Everything else (budget, schedule, losses) is KTSE's.
_base_ = ['../../configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py']
custom_imports = dict(
    imports=['projects.example_erasing.class_top_ratio_eraser'],
    allow_failed_imports=False)
model = dict(eraser=dict(type='ClassTopRatioEraser', ratio=0.1))
