"""Stage-1 outputs: CAMs of a split (``tools/infer_cam.py``) and their
mIoU over the background-threshold sweep (``tools/evaluate.py``)."""
import json
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from wsstool.registry import PIPELINE_STAGES
from .base_stage import BaseStage, TrainedModelStage
from .context import PipelineContext


@PIPELINE_STAGES.register_module()
class InferCAMStage(TrainedModelStage):
    """Multi-scale CAMs of ``split`` from a training stage's last
    checkpoint, written as ``<id>.npz`` into the stage folder; an
    interrupted run resumes from the first missing file.

    Outputs: ``dir``, ``config``, ``dataset``, ``cams`` (the CAM folder)
    and ``cam_split``.

    Args:
        name: See :class:`BaseStage`.
        train: The :class:`TrainStage` whose config and checkpoint infer.
        split: List file relative to the data root (default: the config's
            test split).
        formats: ``tools/infer_cam.py --formats``; ``npz`` comes first.
        cfg_options: Overrides of the training config for inference.
    """

    def __init__(self,
                 name: str,
                 train: str,
                 split: Optional[str] = None,
                 formats: Sequence[str] = ('npz', ),
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(name, train, cfg_options)
        if 'npz' not in formats:
            raise ValueError(
                f'pipeline stage {name!r}: formats {list(formats)} must '
                'include npz (the format the later stages read)')
        self.split = split
        self.formats = list(formats)

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(
            super().spec(ctx), split=self.split, formats=self.formats)

    def run(self, ctx: PipelineContext, resume: bool) -> None:
        args = [
            self.write_config(ctx),
            self.checkpoint(ctx), '--out',
            self._cam_dir(ctx), '--formats', *self.formats
        ]
        if self.split is not None:
            args += ['--split', self.split]
        self.execute(ctx.tool_command('infer_cam', args, distributed=True))

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        split = self.split or self.stage_config(
            ctx).test_dataloader.dataset.get('ann_file')
        return dict(
            super().outputs(ctx), cams=self._cam_dir(ctx), cam_split=split)

    def _cam_dir(self, ctx: PipelineContext) -> str:
        return osp.abspath(osp.join(ctx.stage_dir(self.name), 'cams'))


@PIPELINE_STAGES.register_module()
class EvalCAMStage(BaseStage):
    """CAM mIoU of an :class:`InferCAMStage`'s CAMs against the ground
    truth of ``split``, swept over background thresholds.

    Metrics: ``cam_miou`` (best threshold), ``cam_threshold``,
    ``cam_curve``.

    Args:
        name: See :class:`BaseStage`.
        cams: The :class:`InferCAMStage`.
        split: List file of images with ground truth, relative to the data
            root (WSSS convention: VOC ``train``).
        seg_map_dir: Ground-truth folder relative to the data root.
        thresholds: ``(start, stop, step)`` of the sweep (stop included).
    """
    stage_attributes = ('cams', )

    def __init__(self,
                 name: str,
                 cams: str,
                 split: str = 'ImageSets/Segmentation/train.txt',
                 seg_map_dir: str = 'SegmentationClass',
                 thresholds: Sequence[float] = (0., 0.6, 0.01)) -> None:
        super().__init__(name)
        if len(thresholds) != 3:
            raise ValueError(
                f'pipeline stage {name!r}: thresholds must be (start, stop, '
                f'step), got {thresholds!r}')
        self.cams = cams
        self.split = split
        self.seg_map_dir = seg_map_dir
        self.thresholds = [float(t) for t in thresholds]

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(
            cams=ctx.output(self.cams, 'cams', self.name),
            classes=ctx.output(self.cams, 'classes', self.name),
            data_root=self._data_root(ctx),
            split=self.split,
            seg_map_dir=self.seg_map_dir,
            thresholds=self.thresholds)

    def run(self, ctx: PipelineContext, resume: bool) -> None:
        spec = self.spec(ctx)
        data_root = spec['data_root']
        args = [
            '--pred', spec['cams'], '--gt',
            osp.join(data_root, self.seg_map_dir), '--list',
            osp.join(data_root, self.split), '--type', 'cam',
            '--num-classes',
            str(len(spec['classes'])), '--thresholds',
            *map(str, self.thresholds), '--out',
            self._result_file(ctx)
        ]
        self.execute(ctx.tool_command('evaluate', args))

    def metrics(self, ctx: PipelineContext) -> Dict[str, Any]:
        with open(self._result_file(ctx)) as f:
            metrics = json.load(f)['metrics']
        curve = metrics['cam/mIoU_curve']
        return dict(
            cam_miou=metrics['cam/mIoU'],
            cam_threshold=metrics['cam/best_threshold'],
            cam_curve=dict(
                thresholds=[float(t) for t in curve],
                miou=list(curve.values())))

    def _data_root(self, ctx: PipelineContext) -> str:
        if ctx.data_root is None:
            raise ValueError(
                f'pipeline stage {self.name!r} needs the pipeline\'s '
                '`data_root` (ground truth under it)')
        return osp.abspath(ctx.data_root)

    def _result_file(self, ctx: PipelineContext) -> str:
        return osp.join(ctx.stage_dir(self.name), 'cam_eval.json')
