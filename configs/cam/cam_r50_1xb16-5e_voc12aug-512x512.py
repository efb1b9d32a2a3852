# IRN's CAM baseline on VOC 2012 (train_aug, 1 GPU x 16 images, 5 epochs,
# crop 512, random long side 320-640, lr 0.1 / 1.0 for the classifier,
# wd 1e-4, poly 0.9). Reported: 48.3 CAM mIoU on train (IRN paper, constant
# background 0.15); wsstool reports the best of a 0.00-0.60 sweep as well.
# Optimiser: momentum 0.9 (correct SGD); the reference's momentum = 1e-4
# quirk is the *_legacy-sgd config.
_base_ = [
    '../_base_/models/cam_r50.py',
    '../_base_/datasets/voc12_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/poly_5e.py',
]
# evaluate CAMs (multi-scale + flip on 1,449 val images) at the end only
train_cfg = dict(val_interval=5)
