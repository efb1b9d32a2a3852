# As cam_r50_1xb16-5e_voc12aug-512x512.py, with the reference optimiser's
# quirk reproduced: its PolyOptimizer passes the weight decay (1e-4) as SGD's
# momentum argument, so the effective momentum is 1e-4.
_base_ = ['./cam_r50_1xb16-5e_voc12aug-512x512.py']
optim_wrapper = dict(optimizer=dict(momentum=1e-4))
