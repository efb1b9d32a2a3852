# Whole pipelines on the built-in SynthVOC: stage-1 CAMs, IRN refinement into
# pseudo labels and confidence masks, BECO segmentation, each tested with
# single scale, TTA and TTA + CRF. The budget of every stage is in the
# pipeline configs (the demo's cut budgets), so that the two pipelines
# differ only in their stage-1 method.
# Time on a 2-core CPU: about 15 min per run for KTSE -> IRN -> BECO, a
# little less with the CAM baseline (docs/benchmarks.md, the demo pipeline).
#   python tools/benchmark.py configs/benchmarks/pipelines_synthvoc.py
seeds = [0]
entries = [
    dict(name='CAM -> IRN -> BECO',
         pipeline='configs/pipelines/cam_irn_beco_synthvoc.py'),
    dict(name='KTSE -> IRN -> BECO',
         pipeline='configs/pipelines/ktse_irn_beco_synthvoc.py'),
]
