# The example eraser against its baselines on SynthVOC, same budget and
# seeds: the CAM baseline, KTSE with its own eraser, and KTSE with
# ClassTopRatioEraser (docs/benchmarking.md). About 35 min per seed on a
# 2-core CPU (CAM baseline 4-7 min, each KTSE run about 15 min).
#   PYTHONPATH=. python tools/benchmark.py \
#       projects/example_erasing/benchmark_synthvoc.py --seeds 0 1
seeds = [0, 1]
# the shared budget (the benchmark trains without validation: the test stage
# evaluates the last checkpoint)
cfg_options = {
    'train_cfg.max_epochs': 12,
    'param_scheduler.1.end': 12,
}
entries = [
    dict(name='CAM baseline',
         config='configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='KTSE',
         config='configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='KTSE + top-ratio eraser',
         config='projects/example_erasing/'
         'ktse-topratio_r18_1xb16-12e_synthvoc-128x128.py'),
]
