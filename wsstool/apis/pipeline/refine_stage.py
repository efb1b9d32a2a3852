"""Stage-2 steps of ``tools/make_pseudo_labels.py`` on a stage's CAMs."""
import json
import os.path as osp
from typing import Any, Dict, Optional

from wsstool.registry import PIPELINE_STAGES
from .base_stage import ConfigStage
from .context import PipelineContext

# outputs of each step, as folders of the stage folder
STEP_OUTPUTS = {
    'relation-labels': dict(relation_labels='relation_labels'),
    'pseudo-labels':
    dict(
        pseudo_labels='pseudo_labels',
        conf_masks='conf_masks',
        scores='scores'),
}


@PIPELINE_STAGES.register_module()
class RefineStage(ConfigStage):
    """One step of a refinement config (``relation-labels`` or
    ``pseudo-labels``) on the CAMs of an :class:`InferCAMStage`, writing
    into the stage folder; an interrupted run resumes from the first
    missing file.

    Outputs: ``dir``, ``config``, ``dataset`` and the step's folders
    (``relation_labels``; ``pseudo_labels``, ``conf_masks``, ``scores``,
    ``pseudo_label_split``). Metrics of ``pseudo-labels`` (the tool's
    ``eval.json``): ``pseudo_label_miou``, ``conf_mask_precision``,
    ``conf_mask_coverage``.

    Args:
        name, config, cfg_options: See :class:`ConfigStage`.
        step: The tool's ``--step``.
        cams: The :class:`InferCAMStage` whose CAMs are refined.
        model: The :class:`TrainStage` of the refinement network
            (``pseudo-labels``).
    """
    stage_attributes = ('cams', 'model')

    def __init__(self,
                 name: str,
                 config: str,
                 step: str,
                 cams: str,
                 model: Optional[str] = None,
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(name, config, cfg_options)
        if step not in STEP_OUTPUTS:
            raise ValueError(f'pipeline stage {name!r}: step {step!r} is not '
                             f'one of {sorted(STEP_OUTPUTS)}')
        if (step == 'pseudo-labels') != (model is not None):
            raise ValueError(
                f'pipeline stage {name!r}: `model` (the refinement network\'s '
                'training stage) is needed by the pseudo-labels step only')
        self.step = step
        self.cams = cams
        self.model = model

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(
            super().spec(ctx),
            step=self.step,
            cams=ctx.output(self.cams, 'cams', self.name),
            checkpoint=self._checkpoint(ctx))

    def run(self, ctx: PipelineContext, resume: bool) -> None:
        args = [
            self.write_config(ctx), '--step', self.step, '--cams',
            ctx.output(self.cams, 'cams', self.name), '--out',
            osp.abspath(ctx.stage_dir(self.name))
        ]
        if self.model is not None:
            args += ['--checkpoint', self._checkpoint(ctx)]
        self.execute(
            ctx.tool_command('make_pseudo_labels', args, distributed=True))

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        outputs = super().outputs(ctx)
        for key, folder in STEP_OUTPUTS[self.step].items():
            outputs[key] = osp.join(outputs['dir'], folder)
        if self.step == 'pseudo-labels':
            outputs['pseudo_label_split'] = self.stage_config(
                ctx).refine.get('split')
        return outputs

    def metrics(self, ctx: PipelineContext) -> Dict[str, Any]:
        path = osp.join(ctx.stage_dir(self.name), 'eval.json')
        if self.step != 'pseudo-labels' or not osp.isfile(path):
            return {}
        with open(path) as f:
            metrics = json.load(f)['metrics']
        names = dict(
            pseudo_label_miou='seg/mIoU',
            conf_mask_precision='conf/precision',
            conf_mask_coverage='conf/coverage')
        return {
            key: metrics[name]
            for key, name in names.items() if name in metrics
        }

    def _checkpoint(self, ctx: PipelineContext) -> Optional[str]:
        if self.model is None:
            return None
        return ctx.output(self.model, 'checkpoint', self.name)
