# IRN with the relation-label thresholds of KTSE's irn/ (and SSC): background
# 0.10 instead of 0.05, for CAMs that cover objects more fully (KTSE CAMs).
_base_ = ['./irn_r50_1xb32-3e_voc12aug-512x512.py']
refine = dict(
    cam_dir='cams/ktse_r38d',
    out_dir='refine/irn_r50_ktse',
    relation_label=dict(bg_thresh=0.10))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path='refine/irn_r50_ktse/relation_labels')))
test_dataloader = dict(dataset=dict(cam_dir='cams/ktse_r38d'))
