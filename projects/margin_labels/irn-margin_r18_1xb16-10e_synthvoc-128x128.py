# IRN on SynthVOC with relation labels from the MarginRelationLabel plugin
# instead of IRN's thresholded label CRFs.
_base_ = ['../../configs/irn/irn_r18_1xb16-10e_synthvoc-128x128.py']
custom_imports = dict(
    imports=['projects.margin_labels.margin_labels'],
    allow_failed_imports=False)
refine = dict(
    out_dir='refine/irn_r18_margin',
    relation_label=dict(
        _delete_=True, type='MarginRelationLabel', fg_thresh=0.4,
        bg_thresh=0.1, margin=0.2))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path='refine/irn_r18_margin/relation_labels')))
