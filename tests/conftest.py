"""Fixtures shared by every test."""
import pytest
from mmengine.visualization import Visualizer


@pytest.fixture(autouse=True)
def fresh_visualizers():
    """Forget the visualizers a test's runners created. mmengine names a
    runner's visualizer after its start time and reuses an existing one of
    that name, so a runner started in the same second as one of an earlier
    test would write into that test's (deleted) temporary folder."""
    yield
    Visualizer._instance_dict.clear()
