# SEAM on the built-in SynthVOC, trained from scratch on a CPU with the
# budget of every SynthVOC CAM method (12 epochs, batch 16, AdamW; see
# _base_/schedules/adamw_12e_synthvoc.py): ResNet-18 at output stride 8,
# second view at scale 0.5 (see _base_/models/seam_r18_synthvoc.py).
# Faithfulness: AdamW as every SynthVOC config, so the reference's SGD
# quirks do not apply; the losses are SEAM's (weights 1, AMP, top-20% ECR).
_base_ = [
    '../_base_/models/seam_r18_synthvoc.py',
    '../_base_/datasets/synthvoc_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e_synthvoc.py',
]
# the CAMs are minmax_infer-normalised (recorded with the metric)
val_evaluator = dict(cam_norm='minmax_infer')
test_evaluator = val_evaluator
