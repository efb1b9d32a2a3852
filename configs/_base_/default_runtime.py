default_scope = 'wsstool'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# Scalars, the config and images go to <work_dir>/<timestamp>/vis_data/:
# scalars.json always, TensorBoard event files when tensorboard is installed.
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='OptionalTensorboardVisBackend')
]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
# Seed and determinism are logged with the environment at start-up.
randomness = dict(seed=0, deterministic=False)
custom_hooks = [
    dict(type='TotalBatchSizeHook'),
    # Average BN running statistics over processes after each epoch, so that
    # validation on every rank and the saved checkpoint use the same model.
    dict(type='SyncBuffersHook'),
]
