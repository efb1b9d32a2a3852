import copy
import json
import logging
import os
import os.path as osp
import sys
import uuid

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.visualization import LocalVisBackend

from wsstool.registry import VISBACKENDS, VISUALIZERS
from wsstool.visualization.vis_backends import (OptionalTensorboardVisBackend,
                                                _DisabledSummaryWriter)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _read_scalars(folder: str) -> dict:
    """Map each scalar tag of the event files in ``folder`` to its
    ``(step, value)`` pairs."""
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    events = EventAccumulator(folder)
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()['scalars']
    }


@pytest.fixture
def log_records():
    """Records of a fresh current MMLogger, the one ``print_log`` uses."""
    logger = MMLogger.get_instance(f'test_vis_backends_{uuid.uuid4().hex}')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def hide_tensorboard(monkeypatch):
    """Make ``import tensorboard`` fail, also for torch's wrapper."""
    monkeypatch.setitem(sys.modules, 'tensorboard', None)
    monkeypatch.delitem(sys.modules, 'torch.utils.tensorboard', raising=False)


def test_backend_is_registered():
    assert VISBACKENDS.get('OptionalTensorboardVisBackend') is \
        OptionalTensorboardVisBackend


def test_writes_scalars_to_an_events_file(tmp_path):
    pytest.importorskip('tensorboard')
    backend = OptionalTensorboardVisBackend(save_dir=str(tmp_path))
    backend.add_scalars({'loss': 0.25, 'lr': 0.5}, step=3)
    backend.add_scalar('loss', 0.125, step=4)
    backend.close()

    assert [name for name in os.listdir(tmp_path)
            if name.startswith('events.out.tfevents.')]
    assert _read_scalars(str(tmp_path)) == {
        'loss': [(3, 0.25), (4, 0.125)],
        'lr': [(3, 0.5)]
    }


def test_without_tensorboard_warns_once_and_writes_nothing(
        tmp_path, hide_tensorboard, log_records):
    save_dir = tmp_path / 'vis_data'
    backend = OptionalTensorboardVisBackend(save_dir=str(save_dir))
    backend.add_config(Config(dict(a=1)))
    backend.add_scalars({'loss': 0.25}, step=1)
    backend.add_scalar('loss', 0.5, step=2)
    backend.close()

    assert not save_dir.exists()
    warnings = [r for r in log_records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'tensorboard' in warnings[0].getMessage()
    assert 'pip install tensorboard' in warnings[0].getMessage()


def test_disabled_writer_copies_as_a_plain_object():
    writer = _DisabledSummaryWriter()
    assert writer.add_scalar('loss', 0.5, 1) is None
    # deepcopy and pickle look special methods up on the instance: they
    # must not get a do-nothing stand-in
    assert not hasattr(writer, '__deepcopy__')
    assert isinstance(copy.deepcopy(writer), _DisabledSummaryWriter)


def test_base_runtime_builds_a_visualizer_with_both_backends(tmp_path):
    pytest.importorskip('tensorboard')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'default_runtime.py'))
    init_default_scope(cfg.default_scope)
    visualizer = VISUALIZERS.build(
        dict(cfg.visualizer, name=f'test_vis_{uuid.uuid4().hex}',
             save_dir=str(tmp_path)))
    assert isinstance(
        visualizer.get_backend('LocalVisBackend'), LocalVisBackend)
    assert isinstance(
        visualizer.get_backend('OptionalTensorboardVisBackend'),
        OptionalTensorboardVisBackend)

    visualizer.add_scalars({'loss': 0.75}, step=2)
    visualizer.close()
    # both backends write into the run's vis_data/ folder
    vis_data = tmp_path / 'vis_data'
    with open(vis_data / 'scalars.json') as f:
        assert json.loads(f.readline()) == {'loss': 0.75, 'step': 2}
    assert _read_scalars(str(vis_data)) == {'loss': [(2, 0.75)]}
