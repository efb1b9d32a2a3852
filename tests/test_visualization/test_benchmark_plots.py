"""Benchmark plots: one bar group per metric and one bar per method, one
CAM curve per method with its best point, PNGs of the figure's size written
atomically."""
import math
import os

import numpy as np
import pytest
from matplotlib.container import BarContainer
from PIL import Image

from wsstool.visualization.benchmark_plots import (cam_curve_figure,
                                                   miou_bar_figure,
                                                   save_figure)


def stat(mean, std=None):
    return dict(mean=mean, std=std, n=1 if std is None else 2)


SUMMARY = dict(metrics={
    'cam_miou': 'CAM mIoU',
    'cam_threshold': 'CAM threshold',
    'pseudo_label_miou': 'pseudo-label mIoU',
    'seg_miou_ss': 'seg mIoU (ss)',
    'seg_miou_tta_crf': 'seg mIoU (TTA + CRF)',
}, entries=[
    dict(name='CAM baseline',
         metrics=dict(cam_miou=stat(27.5, 0.7), cam_threshold=stat(0.25)),
         cam_curve=dict(thresholds=[0.0, 0.1, 0.2, 0.3],
                        miou=[10.0, 20.0, 27.5, 25.0])),
    dict(name='KTSE -> IRN -> BECO',
         metrics=dict(cam_miou=stat(14.5, 0.5), pseudo_label_miou=stat(16.0),
                      seg_miou_tta_crf=stat(20.5, 1.5)),
         cam_curve=dict(thresholds=[0.0, 0.1, 0.2, 0.3],
                        miou=[5.0, 14.5, 12.0, 9.0])),
    dict(name='no curve', metrics=dict(seg_miou_ss=stat(18.0))),
])


def test_bars_one_group_per_metric_and_one_bar_per_method():
    figure = miou_bar_figure(SUMMARY)
    axes, = figure.axes
    # the summary's mIoU metrics, in its order
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        'CAM', 'pseudo-label', 'seg (ss)', 'seg (TTA + CRF)'
    ]
    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [b.get_label() for b in bars] == [
        'CAM baseline', 'KTSE -> IRN -> BECO', 'no curve'
    ]
    heights = [[p.get_height() for p in b.patches] for b in bars]
    nan = math.nan
    np.testing.assert_equal(heights, [[27.5, nan, nan, nan],
                                      [14.5, 16.0, nan, 20.5],
                                      [nan, nan, 18.0, nan]])
    # bars of one group sit side by side around the group's tick
    centres = [[p.get_x() + p.get_width() / 2 for p in b.patches]
               for b in bars]
    np.testing.assert_allclose(np.array(centres)[:, 0],
                               [-0.8 / 3, 0.0, 0.8 / 3])
    # error bars of the second method: mean -+ std, zero length without a
    # std, none without a bar
    segments = bars[1].errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose(segments[0][:, 1], [14.0, 15.0])
    np.testing.assert_allclose(segments[1][:, 1], [16.0, 16.0])
    assert segments[2].size == 0
    np.testing.assert_allclose(segments[3][:, 1], [19.0, 22.0])


def test_curves_one_per_method_with_the_best_point():
    figure = cam_curve_figure(SUMMARY)
    axes, = figure.axes
    handles, labels = axes.get_legend_handles_labels()
    assert labels == ['CAM baseline', 'KTSE -> IRN -> BECO']
    np.testing.assert_allclose(handles[1].get_ydata(), [5.0, 14.5, 12.0, 9.0])
    markers = [line for line in axes.lines if line.get_marker() == 'o']
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in markers] == [
        (0.2, 27.5), (0.1, 14.5)
    ]
    assert [t.get_text() for t in axes.texts] == ['27.5 @ 0.20',
                                                  '14.5 @ 0.10']


def test_nothing_to_plot_gives_no_figure():
    summary = dict(metrics={'cam_threshold': 'CAM threshold'},
                   entries=[dict(name='m', metrics=dict(
                       cam_threshold=stat(0.2)))])
    assert miou_bar_figure(summary) is None
    assert cam_curve_figure(summary) is None


def test_png_has_the_figure_size(tmp_path):
    for make in (miou_bar_figure, cam_curve_figure):
        figure = make(SUMMARY)
        width, height = figure.get_size_inches() * figure.dpi
        path = tmp_path / f'{make.__name__}.png'
        save_figure(figure, str(path))
        with Image.open(path) as image:
            assert image.format == 'PNG'
            assert image.size == (round(width), round(height))


def test_failed_render_leaves_the_old_file_and_no_partial_one(
        tmp_path, monkeypatch):
    path = tmp_path / 'miou_bars.png'
    path.write_bytes(b'old')
    figure = miou_bar_figure(SUMMARY)

    def broken_savefig(buffer, **kwargs):
        buffer.write(b'\x89PNG half')
        raise RuntimeError('disk full')

    monkeypatch.setattr(figure, 'savefig', broken_savefig)
    with pytest.raises(RuntimeError, match='disk full'):
        save_figure(figure, str(path))
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['miou_bars.png']
