"""tools/benchmark_random_walk.py: sane figures on a tiny grid."""
import argparse

import pytest

from tests.tool_loader import TOOLS, load_tool


def test_main_reports_both_walks(capsys, monkeypatch):
    # the measuring processes import the tool by its module name
    monkeypatch.syspath_prepend(TOOLS)
    tool = load_tool('benchmark_random_walk')
    rows = tool.main(['--sizes', '6x10', '--steps', '4', '--classes', '2',
                      '--repeat', '1'])
    row, = rows
    assert row['size'] == (6, 10) and row['nodes'] == 60
    for mode in ('sparse', 'dense'):
        assert row[mode]['seconds'] > 0
        assert row[mode]['peak_mib'] >= 0
        assert row[mode]['scores'].shape == (2, 6, 10)
    assert row['time_ratio'] > 0
    assert row['max_abs_diff'] < 1e-5 and row['agreement'] == 1.0
    out = capsys.readouterr().out
    assert '6x10 | 60 |' in out
    assert 'sparse: time ~ N^-' in out  # a single size: no fit
    assert 'dense: time ~ N^-' in out


def test_helpers():
    tool = load_tool('benchmark_random_walk')
    assert tool.grid_size('94x125') == (94, 125)
    with pytest.raises(argparse.ArgumentTypeError, match='32x48'):
        tool.grid_size('94')
    assert tool.power_law_exponent([10, 100, 1000],
                                   [3., 300., 30000.]) == pytest.approx(2)
    assert tool.power_law_exponent([10, 100], [0., 1.]) is None
    with pytest.raises(ValueError, match='power of 2'):
        tool.main(['--sizes', '4x4', '--steps', '3'])
