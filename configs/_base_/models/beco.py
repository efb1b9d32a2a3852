# BECO co-training (stage-3 spec §4): two copies of the config's `model`
# network (same pretrained backbone, heads initialised independently)
# co-trained with boundary-enhanced ClassMix. Constants of official BECO and
# KTSE/SSC alike; the warm-up is 1 epoch in official BECO, 2 in KTSE/SSC.
# A BECO config composes it with a network config:
#   model = dict(_base_.beco, _delete_=True,
#                data_preprocessor=_base_.data_preprocessor,
#                network=dict(_base_.model, data_preprocessor=None),
#                test_cfg=_base_.model.test_cfg)
# and adds TrainEpochHook (the warm-up follows the runner's epoch, also
# after a resume). photometric_aug gray_weights=(0.114, 0.587, 0.299)
# reproduces BECO's gray conversion of channel-swapped images.
beco = dict(
    type='BECO',
    warmup_epochs=1,
    mix_prob=0.5,
    conf_thresh=0.95,
    boundary_size=1,
    boundary_weight=0.2,
    photometric_aug=dict(type='BatchPhotometricAug'),
    ignore_index=255)
