"""Test a training stage's checkpoint with ``tools/test.py``, in one or
more test modes (single scale, TTA, dense CRF)."""
import json
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from wsstool.registry import PIPELINE_STAGES
from .base_stage import TrainedModelStage
from .context import PipelineContext

MODE_FLAGS = {
    'ss': [],
    'tta': ['--tta'],
    'crf': ['--crf'],
    'tta_crf': ['--tta', '--crf'],
}


@PIPELINE_STAGES.register_module()
class TestStage(TrainedModelStage):
    """Evaluate the last checkpoint of a :class:`TrainStage` on its
    config's test split, once per mode, each in ``<stage>/<mode>/``; an
    interrupted run resumes from the first mode without ``metrics.json``.

    Metrics: ``seg_miou_<mode>`` for a segmentation model; ``cam_miou``,
    ``cam_threshold`` and ``cam_curve`` (first mode) for a CAM model.
    Outputs: ``dir``, ``config``, ``dataset``, ``prediction_split`` and,
    with ``save_predictions``, ``predictions`` (label PNGs of the last
    mode).

    Args:
        name: See :class:`BaseStage`.
        train: The :class:`TrainStage`.
        modes: Any of ``ss``, ``tta``, ``crf``, ``tta_crf``.
        save_predictions: Write label maps (``tools/test.py --pred-dir``;
            segmentation models).
        cfg_options: Overrides of the training config for testing.
    """
    __test__ = False  # not a pytest test class

    def __init__(self,
                 name: str,
                 train: str,
                 modes: Sequence[str] = ('ss', ),
                 save_predictions: bool = False,
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(name, train, cfg_options)
        unknown = [mode for mode in modes if mode not in MODE_FLAGS]
        if unknown or not modes:
            raise ValueError(f'pipeline stage {name!r}: modes {list(modes)} '
                             f'must be some of {list(MODE_FLAGS)}')
        self.modes = list(modes)
        self.save_predictions = save_predictions

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(
            super().spec(ctx),
            modes=self.modes,
            save_predictions=self.save_predictions)

    def run(self, ctx: PipelineContext, resume: bool) -> None:
        config = self.write_config(ctx)
        checkpoint = self.checkpoint(ctx)
        for mode in self.modes:
            out = self._mode_dir(ctx, mode)
            if resume and osp.isfile(osp.join(out, 'metrics.json')):
                continue
            args = [config, checkpoint, '--work-dir', out, '--out', out]
            args += MODE_FLAGS[mode]
            if self.save_predictions:
                args += ['--pred-dir', out]
            self.execute(ctx.tool_command('test', args, distributed=True))

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        outputs = dict(
            super().outputs(ctx),
            prediction_split=self.stage_config(
                ctx).test_dataloader.dataset.get('ann_file'))
        if self.save_predictions:
            outputs['predictions'] = osp.join(
                self._mode_dir(ctx, self.modes[-1]), 'pred')
        return outputs

    def metrics(self, ctx: PipelineContext) -> Dict[str, Any]:
        metrics = {}
        for mode in self.modes:
            out = self._mode_dir(ctx, mode)
            with open(osp.join(out, 'metrics.json')) as f:
                result = json.load(f)
            if 'seg/mIoU' in result:
                metrics[f'seg_miou_{mode}'] = result['seg/mIoU']
            if 'cam/mIoU' in result and 'cam_miou' not in metrics:
                metrics.update(
                    cam_miou=result['cam/mIoU'],
                    cam_threshold=result['cam/best_threshold'],
                    cam_curve=_read_curve(out))
        return metrics

    def _mode_dir(self, ctx: PipelineContext, mode: str) -> str:
        return osp.abspath(osp.join(ctx.stage_dir(self.name), mode))


def _read_curve(out: str) -> Dict[str, list]:
    """The threshold sweep the CAM metric wrote to ``cam_iou_curve.json``."""
    with open(osp.join(out, 'cam_iou_curve.json')) as f:
        curve = json.load(f)
    return dict(thresholds=curve['thresholds'], miou=curve['mIoU'])
