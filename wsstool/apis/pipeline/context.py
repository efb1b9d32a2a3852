"""What every pipeline stage sees: folders, the processes to launch with,
and the outputs of the stages before it."""
import os.path as osp
import socket
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

# tools/ of the repository wsstool runs from
TOOLS_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'tools')


@dataclass
class PipelineContext:
    """Shared state of one pipeline run.

    Args:
        work_dir: The pipeline's folder; stage ``name`` works in
            ``work_dir/name``.
        data_root: Dataset root every stage config reads from.
        nproc: Processes per distributed stage (1: a plain process).
        seed: ``randomness.seed`` of every training stage, or None to keep
            each config's own.
        common_cfg_options: Config overrides for every stage config that
            already has the key.
        python: Interpreter that runs the tools.
        outputs: Outputs of the stages run or reused so far, by stage name.
    """
    work_dir: str
    data_root: Optional[str] = None
    nproc: int = 1
    seed: Optional[int] = None
    common_cfg_options: Dict[str, Any] = field(default_factory=dict)
    python: str = sys.executable
    outputs: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def stage_dir(self, name: str) -> str:
        return osp.join(self.work_dir, name)

    def resolve(self, value: Any, stage: str) -> Any:
        """Fill the placeholders of ``value`` (strings, nested in lists,
        tuples and dicts): ``{work_dir}``, ``{data_root}``, ``{seed}`` and
        ``{<stage>.<output>}`` of an earlier stage, e.g.
        ``{cam.checkpoint}``."""
        if isinstance(value, str):
            return self._format(value, stage)
        if isinstance(value, dict):
            return {k: self.resolve(v, stage) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.resolve(v, stage) for v in value)
        return value

    def output(self, stage: str, key: str, user: str) -> Any:
        """Output ``key`` of the earlier stage ``stage``, for ``user``."""
        if stage not in self.outputs:
            raise KeyError(
                f'pipeline stage {user!r} reads stage {stage!r}, which is not '
                f'an earlier stage (earlier: {sorted(self.outputs)})')
        if key not in self.outputs[stage]:
            raise KeyError(
                f'pipeline stage {user!r} reads output {key!r} of stage '
                f'{stage!r}, which has {sorted(self.outputs[stage])}')
        return self.outputs[stage][key]

    def _format(self, text: str, stage: str) -> str:
        fields = dict(
            work_dir=self.work_dir, data_root=self.data_root, seed=self.seed)
        fields.update({
            name: SimpleNamespace(**outputs)
            for name, outputs in self.outputs.items()
        })
        try:
            return text.format_map(fields)
        except (KeyError, AttributeError, ValueError, IndexError) as error:
            raise KeyError(
                f'pipeline stage {stage!r}: cannot fill {text!r} ({error}); '
                f'placeholders are {{work_dir}}, {{data_root}}, {{seed}} and '
                f'{{<stage>.<output>}} of the earlier stages (write a literal '
                f'brace twice: {{{{ }}}}) '
                + ', '.join(f'{name}: {sorted(out)}'
                            for name, out in self.outputs.items())) from None

    def tool_command(self,
                     tool: str,
                     args: List[str],
                     distributed: bool = False,
                     nproc: Optional[int] = None) -> List[str]:
        """The command line of ``tools/<tool>.py``: a plain process, or
        ``nproc`` (default ``self.nproc``) processes under torchrun when
        ``distributed``."""
        script = osp.join(TOOLS_DIR, f'{tool}.py')
        nproc = nproc or self.nproc
        if not distributed or nproc == 1:
            return [self.python, script, *args]
        return [
            self.python, '-m', 'torch.distributed.run',
            f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
            script, *args, '--launcher', 'pytorch'
        ]


def free_port() -> int:
    """A free local TCP port for a distributed stage's master."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
