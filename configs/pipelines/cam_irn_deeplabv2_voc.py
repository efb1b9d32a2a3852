# IRN's own chain on PASCAL VOC 2012: CAM ResNet-50 (5 epochs) -> CAMs ->
# IRN (IRN thresholds) -> pseudo labels -> DeepLabV2 ResNet-101 -> test. The
# baseline of ktse_irn_beco_voc.py. Needs the VOC data and ImageNet weights
# (docs/data_preparation.md, docs/model_zoo.md); GPUs:
#   python tools/run_pipeline.py configs/pipelines/cam_irn_deeplabv2_voc.py
_base_ = ['./ktse_irn_beco_voc.py']
CAM = 'configs/cam/cam_r50_1xb16-5e_voc12aug-512x512.py'
IRN = 'configs/irn/irn_r50_1xb32-3e_voc12aug-512x512.py'
DEEPLAB = 'configs/deeplab/deeplabv2_r101_1xb16-100e_voc12aug-512x512.py'
stages = [
    dict(type='TrainStage', name='cam', config=CAM, nproc=1),
    *_base_.stages[1:3],
    dict(_base_.stages[3], config=IRN),
    dict(_base_.stages[4], config=IRN),
    dict(_base_.stages[5], config=IRN),
    dict(
        type='TrainStage',
        name='seg',
        config=DEEPLAB,
        nproc=1,
        cfg_options={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            '{pseudo_labels.pseudo_labels}',
        }),
    _base_.stages[7],
]
