# KTSE -> CAMs -> IRN -> pseudo labels + confidence masks -> BECO -> test on
# PASCAL VOC 2012 (train_aug), with each stage's reference settings: KTSE
# ResNet-38d + GPP (40 epochs), IRN ResNet-50 with KTSE's background
# threshold, BECO DeepLabV3+ ResNet-101 (80 epochs, 4 processes). Needs the
# VOC data (docs/data_preparation.md) and the ImageNet weights under
# pretrained/ (docs/model_zoo.md); GPUs:
#   bash tools/dist_run_pipeline.sh configs/pipelines/ktse_irn_beco_voc.py 4
# KTSE and IRNet train on one GPU as their references did (nproc=1: their
# batch sizes are those of one GPU); BECO, inference and tests use all.
KTSE = 'configs/ktse/ktse_r38d-gpp_1xb8-40e_voc12aug-320x320.py'
IRN = 'configs/irn/irn_r50_1xb32-3e_voc12aug-512x512_ktse-thresholds.py'
BECO = 'configs/beco/beco_deeplabv3plus_r101-d_4xb4-80e_voc12aug-512x512.py'
data_root = 'data/VOCdevkit/VOC2012'
stages = [
    dict(type='TrainStage', name='cam', config=KTSE, nproc=1),
    dict(
        type='InferCAMStage',
        name='cams',
        train='cam',
        split='ImageSets/Segmentation/train_aug.txt'),
    dict(type='EvalCAMStage', name='cam_eval', cams='cams'),
    dict(
        type='RefineStage',
        name='relation_labels',
        config=IRN,
        step='relation-labels',
        cams='cams'),
    dict(
        type='TrainStage',
        name='irn',
        config=IRN,
        nproc=1,
        cfg_options={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            '{relation_labels.relation_labels}',
        }),
    dict(
        type='RefineStage',
        name='pseudo_labels',
        config=IRN,
        step='pseudo-labels',
        cams='cams',
        model='irn'),
    dict(
        type='TrainStage',
        name='seg',
        config=BECO,
        cfg_options={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            '{pseudo_labels.pseudo_labels}',
            'train_dataloader.dataset.conf_mask_dir':
            '{pseudo_labels.conf_masks}',
        }),
    dict(
        type='TestStage',
        name='seg_test',
        train='seg',
        modes=('ss', 'tta', 'tta_crf'),
        save_predictions=True),
]
