# Whole pipelines on PASCAL VOC 2012 with the references' settings:
# KTSE -> IRN -> BECO and the IRN baseline chain CAM -> IRN -> DeepLabV2,
# each stage with its reference schedule (in the pipeline configs), the
# segmentation tested on val as the pipeline configs say.
# Needs a GPU; the run times are not measured yet (docs/benchmarks.md, "Not
# measured yet"). --data-root replaces the pipelines' VOC root.
#   python tools/benchmark.py configs/benchmarks/pipelines_voc.py
seeds = [0]
entries = [
    dict(name='CAM -> IRN -> DeepLabV2',
         pipeline='configs/pipelines/cam_irn_deeplabv2_voc.py'),
    dict(name='KTSE -> IRN -> BECO',
         pipeline='configs/pipelines/ktse_irn_beco_voc.py'),
]
