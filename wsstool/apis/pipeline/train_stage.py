"""Train a model of any stage with ``tools/train.py``."""
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config

from wsstool.registry import PIPELINE_STAGES
from .base_stage import ConfigStage
from .context import PipelineContext


@PIPELINE_STAGES.register_module()
class TrainStage(ConfigStage):
    """Train ``config``; an interrupted run resumes from its last
    checkpoint. The pipeline's ``seed`` becomes ``randomness.seed``, and
    :class:`EpochSeedHook` joins the hooks, so that a resumed run repeats
    the uninterrupted one (exactly when the data loader has no persistent
    worker processes, e.g. ``num_workers=0``).

    Outputs: ``dir``, ``config`` and ``checkpoint`` (the last one saved).

    Args:
        name, config, cfg_options: See :class:`ConfigStage`.
        amp: Mixed-precision training (``tools/train.py --amp``).
        nproc: Processes of this stage, overriding the pipeline's
            ``--nproc`` (e.g. 1 for a config whose batch size is the total
            of one GPU).
    """
    use_seed = True

    def __init__(self,
                 name: str,
                 config: str,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 amp: bool = False,
                 nproc: Optional[int] = None) -> None:
        super().__init__(name, config, cfg_options)
        self.amp = amp
        self.nproc = nproc

    def stage_config(self, ctx: PipelineContext) -> Config:
        cfg = super().stage_config(ctx)
        hooks = list(cfg.get('custom_hooks') or [])
        if all(hook.get('type') != 'EpochSeedHook' for hook in hooks):
            cfg.custom_hooks = hooks + [dict(type='EpochSeedHook')]
        return cfg

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        # the process count sets the total batch size
        return dict(super().spec(ctx), amp=self.amp, nproc=self._nproc(ctx))

    def run(self, ctx: PipelineContext, resume: bool) -> None:
        args = [self.write_config(ctx), '--work-dir', ctx.stage_dir(self.name)]
        if resume and osp.isfile(self._last_checkpoint_file(ctx)):
            args.append('--resume')
        if self.amp:
            args.append('--amp')
        self.execute(
            ctx.tool_command(
                'train', args, distributed=True, nproc=self._nproc(ctx)))

    def _nproc(self, ctx: PipelineContext) -> int:
        return self.nproc or ctx.nproc

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        path = self._last_checkpoint_file(ctx)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'pipeline stage {self.name!r} finished without {path}: the '
                'training saved no checkpoint (check default_hooks.checkpoint)')
        with open(path) as f:
            checkpoint = f.read().strip()
        return dict(super().outputs(ctx), checkpoint=osp.abspath(checkpoint))

    def _last_checkpoint_file(self, ctx: PipelineContext) -> str:
        return osp.join(ctx.stage_dir(self.name), 'last_checkpoint')
