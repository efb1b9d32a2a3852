"""The record a stage keeps in its folder (``stage.json``): which settings
it ran with (a hash), whether it finished, its outputs, metrics and time."""
import hashlib
import json
import os.path as osp
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

from wsstool.fileio import atomic_write

RECORD_FILE = 'stage.json'


def settings_hash(upstream: str, stage_type: str, spec: Dict[str,
                                                             Any]) -> str:
    """Hash of a stage's resolved settings chained to the hash of the stage
    before it, so that a change reruns the stage and every later one."""
    text = json.dumps(
        dict(upstream=upstream, type=stage_type, spec=spec),
        sort_keys=True,
        default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class StageRecord:
    """One stage's ``stage.json``.

    Attributes:
        name, type: The stage.
        work_dir: Absolute pipeline folder the record belongs to (records
            hold absolute paths: a moved or copied folder is refused).
        hash: :func:`settings_hash` of the settings it runs with.
        status: ``running`` (started, maybe interrupted) or ``done``.
        seconds: Run time, summed over the attempts.
        attempts: Runs started with this hash (resumed ones included).
        outputs: Files and folders the later stages read.
        metrics: Table entries (see ``results.METRIC_COLUMNS``).
        run_id: Drawn when the stage starts afresh and kept by a resume;
            chained into the next stage's hash, so that a stage rerun from
            scratch (e.g. its folder deleted) also reruns the later ones.
    """
    name: str
    type: str
    work_dir: str
    hash: str
    status: str = 'running'
    seconds: float = 0.
    attempts: int = 0
    outputs: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def load(cls, stage_dir: str) -> Optional['StageRecord']:
        """The record in ``stage_dir``, or None when there is none."""
        path = osp.join(stage_dir, RECORD_FILE)
        if not osp.isfile(path):
            return None
        try:
            with open(path) as f:
                return cls(**json.load(f))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(
                f'{path} is not a stage record ({error}); delete it to rerun '
                'the stage from scratch') from None

    def save(self, stage_dir: str) -> None:
        with atomic_write(osp.join(stage_dir, RECORD_FILE), 'w') as f:
            json.dump(asdict(self), f, indent=2, default=float)
