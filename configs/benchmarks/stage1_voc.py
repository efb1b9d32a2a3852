# Stage-1 CAM methods on PASCAL VOC 2012 (train_aug, docs/data_preparation.md),
# each with the schedule of its reference (the configs' READMEs: 5 to 40
# epochs, ImageNet-initialised backbones), tested on train (1,464 images)
# with the configs' multi-scale inference and threshold sweep. No shared
# budget is imposed: the references' schedules differ and their numbers are
# reported with them. CAM + PPC has no VOC config (PPC's VOC config is
# SEAM + PPC); the CAM baseline is listed with both of its backbones.
# Needs a GPU; the run times are not measured yet (docs/benchmarks.md, "Not
# measured yet"). The configs read data/VOCdevkit/VOC2012; --data-root points
# every run elsewhere.
#   python tools/benchmark.py configs/benchmarks/stage1_voc.py
seeds = [0]
entries = [
    dict(name='CAM baseline (ResNet-50, IRN)',
         config='configs/cam/cam_r50_1xb16-5e_voc12aug-512x512.py'),
    dict(name='CAM baseline (ResNet-38d, PSA)',
         config='configs/cam/cam_r38d_1xb16-15e_voc12aug-448x448.py'),
    dict(name='AEFT',
         config='configs/aeft/aeft_r38d-gpp_1xb8-40e_voc12aug-320x320.py'),
    dict(name='KTSE',
         config='configs/ktse/ktse_r38d-gpp_1xb8-40e_voc12aug-320x320.py'),
    dict(name='KTSE+',
         config='configs/ktse_plus/'
         'ktse-plus_r38d-gpp_1xb8-40e_voc12aug-320x320.py'),
    dict(name='SEAM',
         config='configs/seam/seam_r38d_1xb8-8e_voc12aug-448x448.py'),
    dict(name='SEAM + PPC',
         config='configs/ppc/ppc_seam_r38d_1xb8-8e_voc12aug-448x448.py'),
    dict(name='SSC',
         config='configs/ssc/ssc_r50-drs_1xb6-10e_voc12aug-512x512.py'),
]
