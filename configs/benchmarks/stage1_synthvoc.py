# Stage-1 CAM methods on the built-in SynthVOC, same budget for all: ResNet-18
# from scratch, 12 epochs of 30 steps at batch 16, AdamW with the baseline's
# warm-up + poly schedule; each run is trained, then its last checkpoint is
# tested as the configs say: SynthVOC train (the 100 images with ground
# truth), 3 scales + flip, background-threshold sweep 0.00-0.60.
# Time on a 2-core CPU (docs/benchmarks.md, wall times with other jobs
# running): 4-16 min per run for the CAM baseline, AEFT, KTSE and KTSE+,
# 24-50 min for CAM + PPC, SSC, SEAM and SEAM + PPC; about 3.5 h per seed for
# the whole set.
#   python tools/benchmark.py configs/benchmarks/stage1_synthvoc.py --seeds 0 1
seeds = [0]
# the shared budget of every entry's training (a shorter one moves the poly
# decay's end with it); the benchmark trains config entries without
# validation, their test stage evaluates the last checkpoint
cfg_options = {
    'train_cfg.max_epochs': 12,
    'param_scheduler.1.end': 12,
}
entries = [
    dict(name='CAM baseline',
         config='configs/cam/cam_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='AEFT',
         config='configs/aeft/aeft_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='KTSE',
         config='configs/ktse/ktse_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='KTSE+',
         config='configs/ktse_plus/'
         'ktse-plus_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='SEAM',
         config='configs/seam/seam_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='SEAM + PPC',
         config='configs/ppc/ppc_seam_r18_1xb16-12e_synthvoc-128x128.py'),
    dict(name='SSC',
         config='configs/ssc/ssc_r18-drs_1xb16-12e_synthvoc-128x128.py'),
    dict(name='CAM + PPC',
         config='configs/ppc/ppc_cam_r18_1xb16-12e_synthvoc-128x128.py'),
]
