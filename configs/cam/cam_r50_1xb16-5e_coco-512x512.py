# IRN-style CAM baseline on MS-COCO 2014 (ReCAM/BECO COCO constants: 5 epochs,
# batch 16, lr 0.1). 80 foreground classes. Momentum 0.9 (correct SGD);
# set optim_wrapper.optimizer.momentum=1e-4 for the reference quirk.
_base_ = [
    '../_base_/models/cam_r50.py',
    '../_base_/datasets/coco_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/poly_5e.py',
]
model = dict(head=dict(num_classes=80))
# CAMs of the 40,504 val images take long: evaluate at the end only
train_cfg = dict(val_interval=5)
