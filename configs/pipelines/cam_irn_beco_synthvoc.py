# The baseline of the demo pipeline: the same stages and budgets as
# ktse_irn_beco_synthvoc.py with the CAM baseline in place of KTSE (5
# epochs at 96-pixel crops), on the built-in SynthVOC, on a CPU.
#   python tools/run_pipeline.py configs/pipelines/cam_irn_beco_synthvoc.py
_base_ = ['./ktse_irn_beco_synthvoc.py']
CAM = 'configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py'
stages = [
    dict(
        type='TrainStage',
        name='cam',
        config=CAM,
        cfg_options={
            **_base_.no_validation,
            'train_cfg.max_epochs': 5,
            'param_scheduler.1.end': 5,
            'train_dataloader.dataset.pipeline.4.crop_size': (96, 96),
        }),
    *_base_.stages[1:],
]
