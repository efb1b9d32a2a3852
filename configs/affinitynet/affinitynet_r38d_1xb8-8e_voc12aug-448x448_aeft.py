# AffinityNet with AEFT's settings (train_aff.py / infer_aff.py): la/ha
# alpha 2 / 21 (AEFT README), lr 0.01, initialised from the stage-1
# classifier, walk of 64 steps with a (1 - max)^19 background, then one
# dense-CRF iteration (psa_prob) on the walked scores.
# Not reproduced: AEFT keeps the checkpoint that scores best against the
# ground truth of VOC train during training (model selection on pixel
# labels); wsstool uses the last checkpoint.
_base_ = ['./affinitynet_r38d_1xb8-8e_voc12aug-448x448.py']
refine = dict(
    cam_dir='cams/aeft_r38d',
    out_dir='refine/affinitynet_r38d_aeft',
    relation_label=dict(alphas=(2, 21)))
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint='work_dirs/aeft_r38d-gpp_1xb8-40e_voc12aug-320x320/'
            'epoch_40.pth',
            prefix='backbone.')),
    test_cfg=dict(
        bg_power=19.0,
        random_walk=dict(num_steps=64),
        crf=dict(
            _delete_=True, type='DenseCRF', preset='psa_prob', num_iter=1)))
optim_wrapper = dict(optimizer=dict(lr=0.01))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            seg_map_path='refine/affinitynet_r38d_aeft/relation_labels')))
test_dataloader = dict(dataset=dict(cam_dir='cams/aeft_r38d'))
