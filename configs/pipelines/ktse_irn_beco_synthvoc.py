# The main job of wsstool (`make demo`): KTSE -> CAMs -> IRN -> pseudo labels
# + confidence masks -> BECO -> test, on the built-in SynthVOC, sized to run
# in under 20 minutes on a 2-core CPU (data generation included).
#   python tools/run_pipeline.py configs/pipelines/ktse_irn_beco_synthvoc.py
# Budgets are cut from the stage configs' CPU budgets (KTSE 12 -> 5 epochs
# with erasing from the third, IRNet 10 -> 3, BECO 20 -> 4; KTSE and BECO
# train on 96-pixel crops of the 128-pixel images); validation inside training
# is off: the pipeline evaluates every stage's output itself (CAM mIoU on
# train, pseudo-label mIoU on train, segmentation mIoU on val).
KTSE = 'configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py'
IRN = 'configs/irn/irn_r18_1xb16-10e_synthvoc-128x128.py'
BECO = 'configs/beco/beco_deeplabv2_r18_1xb16-20e_synthvoc-128x128.py'
data_root = 'data/synthvoc'
seed = 0
# no validation loop inside the training stages
no_validation = {
    'val_dataloader': None,
    'val_evaluator': None,
    'val_cfg': None,
}
stages = [
    dict(
        type='TrainStage',
        name='cam',
        config=KTSE,
        cfg_options={
            **no_validation,
            'train_cfg.max_epochs': 5,
            'param_scheduler.1.end': 5,
            'model.erase_start_epoch': 2,
            'train_dataloader.dataset.dataset.pipeline.4.crop_size': (96, 96),
        }),
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
        cfg_options={
            **no_validation,
            'train_cfg.max_epochs': 3,
            'param_scheduler.0.end': 3,
            'model.backbone.init_cfg.checkpoint': '{cam.checkpoint}',
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
            **no_validation,
            'train_cfg.max_epochs': 4,
            'param_scheduler.0.end': 4,
            'model.warmup_epochs': 1,
            'train_dataloader.dataset.pipeline.2.size': (96, 96),
            'model.network.backbone.init_cfg.checkpoint': '{cam.checkpoint}',
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
