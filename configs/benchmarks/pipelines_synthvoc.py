# Whole pipelines on the built-in SynthVOC: stage-1 CAMs, IRN refinement into
# pseudo labels and confidence masks, BECO segmentation, each tested with
# single scale, TTA and TTA + CRF. The budget of every stage is in the
# pipeline configs (the SynthVOC configs' schedules), so that the two
# pipelines differ only in their stage-1 method.
# Time on a 2-core CPU: the sum of the stages (docs/benchmarks.md: KTSE
# 15 min, IRN about 5 min, BECO 20 epochs about 100 min with other jobs
# running); see docs/pipeline.md for the measured runs.
#   python tools/benchmark.py configs/benchmarks/pipelines_synthvoc.py
seeds = [0]
entries = [
    dict(name='CAM -> IRN -> BECO',
         pipeline='configs/pipelines/cam_irn_beco_synthvoc.py'),
    dict(name='KTSE -> IRN -> BECO',
         pipeline='configs/pipelines/ktse_irn_beco_synthvoc.py'),
]
