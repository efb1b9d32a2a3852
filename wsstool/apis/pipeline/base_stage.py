"""The interface of a pipeline stage and the command runner they share."""
import os
import os.path as osp
import shlex
import string
import subprocess
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, List, Optional, Set

from mmengine.config import Config

from wsstool.registry import DATASETS
from .context import TOOLS_DIR, PipelineContext
from .stage_config import build_stage_config, dump_stage_config


class StageFailed(RuntimeError):
    """A stage's tool exited with an error."""


class BaseStage(metaclass=ABCMeta):
    """One step of a pipeline, run by :func:`run_pipeline` in the folder
    ``ctx.stage_dir(name)``.

    A stage states its settings (:meth:`spec`, hashed to decide whether a
    recorded run is still valid), runs (:meth:`run`, resuming an interrupted
    run when ``resume``), then names its outputs for the later stages
    (:meth:`outputs`) and its table entries (:meth:`metrics`).

    Args:
        name: Stage name: its folder and how later stages refer to it
            (``{name.output}``); a Python identifier.
    """
    #: attributes holding the names of earlier stages the stage reads
    stage_attributes = ()

    def __init__(self, name: str) -> None:
        if not name.isidentifier():
            raise ValueError(
                f'pipeline stage name {name!r} must be a Python identifier '
                '(later stages refer to it as {name.output})')
        self.name = name

    def references(self) -> Set[str]:
        """Names of the earlier stages this stage reads: its stage
        attributes and the stages of its ``{stage.output}`` placeholders."""
        names = {
            getattr(self, attr)
            for attr in self.stage_attributes
            if getattr(self, attr) is not None
        }
        return names | placeholder_stages(vars(self))

    @abstractmethod
    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        """Every setting that changes the stage's outputs."""

    @abstractmethod
    def run(self, ctx: PipelineContext, resume: bool) -> None:
        """Run the stage's tools; ``resume`` continues an interrupted
        run."""

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        """Outputs of a finished run; ``dir`` is always the stage folder."""
        return dict(dir=osp.abspath(ctx.stage_dir(self.name)))

    def metrics(self, ctx: PipelineContext) -> Dict[str, Any]:
        """Entries of the pipeline's results table."""
        return {}

    def execute(self, command: List[str]) -> None:
        """Run one tool command, streaming its output."""
        print(f'[{self.name}] $ {shlex.join(command)}', flush=True)
        # the tools import wsstool from the repository they belong to
        paths = [osp.dirname(TOOLS_DIR), os.environ.get('PYTHONPATH')]
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))
        result = subprocess.run(command, env=env)
        if result.returncode != 0:
            raise StageFailed(
                f'pipeline stage {self.name!r} failed: exit code '
                f'{result.returncode} of\n  {shlex.join(command)}\nFix the '
                'cause and rerun the pipeline: finished stages are reused '
                'and this one resumes.')


class ConfigStage(BaseStage):
    """A stage that runs a tool on a config: the config with the pipeline's
    data root, common overrides and the stage's ``cfg_options`` is written
    to the stage folder as ``config.py`` and hashed.

    Args:
        name: See :class:`BaseStage`.
        config: Config file (path from the working directory); may be a
            placeholder such as ``{train.config}``.
        cfg_options: Overrides (dotted keys), placeholders allowed.
    """
    use_seed = False

    def __init__(self,
                 name: str,
                 config: str,
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(name)
        self.config = config
        self.cfg_options = dict(cfg_options or {})

    def stage_config(self, ctx: PipelineContext) -> Config:
        return build_stage_config(
            ctx.resolve(self.config, self.name), ctx.data_root, ctx.common_cfg_options,
            ctx.resolve(self.cfg_options, self.name),
            ctx.seed if self.use_seed else None)

    def config_path(self, ctx: PipelineContext) -> str:
        return osp.abspath(osp.join(ctx.stage_dir(self.name), 'config.py'))

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(config=self.stage_config(ctx).to_dict())

    def write_config(self, ctx: PipelineContext) -> str:
        return dump_stage_config(self.stage_config(ctx), self.config_path(ctx))

    def outputs(self, ctx: PipelineContext) -> Dict[str, Any]:
        """``dir``, ``config``, and when the config has a test dataset
        (wrappers unwrapped), its type (``dataset``) and ``classes``."""
        outputs = dict(super().outputs(ctx), config=self.config_path(ctx))
        dataset = self.stage_config(ctx).get('test_dataloader',
                                             {}).get('dataset')
        while isinstance(dataset, dict) and 'dataset' in dataset:
            dataset = dataset['dataset']
        if isinstance(dataset, dict) and 'type' in dataset:
            outputs['dataset'] = dataset['type']
            # the instance's classes (SynthVOC's depend on its generator);
            # no data pipeline, whose transforms need the default scope
            outputs['classes'] = list(
                DATASETS.build(dict(dataset, lazy_init=True,
                                    pipeline=[])).metainfo['classes'])
        return outputs



class TrainedModelStage(ConfigStage):
    """A stage that runs a tool on the config and last checkpoint of a
    :class:`TrainStage` (inference, testing); the checkpoint is part of its
    settings.

    Args:
        name: See :class:`BaseStage`.
        train: The :class:`TrainStage`.
        cfg_options: Overrides of the training config for this stage.
    """
    stage_attributes = ('train', )

    def __init__(self,
                 name: str,
                 train: str,
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(name, '{%s.config}' % train, cfg_options)
        self.train = train

    def checkpoint(self, ctx: PipelineContext) -> str:
        return ctx.output(self.train, 'checkpoint', self.name)

    def spec(self, ctx: PipelineContext) -> Dict[str, Any]:
        return dict(super().spec(ctx), checkpoint=self.checkpoint(ctx))

def placeholder_stages(value: Any) -> Set[str]:
    """Stage names of the ``{stage.output}`` placeholders in ``value``'s
    strings (nested in dicts, lists and tuples)."""
    if isinstance(value, str):
        try:
            fields = [
                field for _, field, _, _ in string.Formatter().parse(value)
                if field
            ]
        except ValueError as error:
            raise ValueError(f'{value!r} is not a valid placeholder string '
                             f'({error}); write a literal brace twice: '
                             '{{ }}') from None
        return {field.split('.')[0] for field in fields if '.' in field}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*map(placeholder_stages, value)) if value else set()
    return set()
