"""Plots of a benchmark summary (:func:`wsstool.apis.benchmark.summarize`):
mIoU bars per metric and method, CAM mIoU against the background
threshold.

The figures are built with matplotlib's object API on the Agg canvas (no
pyplot, no display needed) and returned, so that callers can inspect them
before :func:`save_figure` writes them.
"""
import math
from typing import Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wsstool.fileio import atomic_write

DPI = 100


def miou_bar_figure(summary: dict) -> Optional[Figure]:
    """Grouped bars: one group per mIoU metric of the summary (CAM, pseudo
    label, segmentation ss / TTA / CRF / TTA + CRF, in the summary's
    order), one bar per method in each group (height = mean over seeds,
    error bar = sample std; no bar where a method lacks the metric).

    Returns:
        Figure | None: None when the summary has no mIoU metric.
    """
    groups = [(key, title.replace(' mIoU', ''))
              for key, title in summary['metrics'].items() if 'miou' in key]
    if not groups:
        return None
    entries = summary['entries']
    width = 0.8 / len(entries)
    figure = _figure(
        width=max(6.0, 2.0 + len(groups) * max(1.2, 0.3 * len(entries))),
        height=4.5)
    axes = figure.add_subplot()
    for i, entry in enumerate(entries):
        stats = [entry['metrics'].get(key) for key, _ in groups]
        heights = [math.nan if s is None else s['mean'] for s in stats]
        errors = [0.0 if s is None or s['std'] is None else s['std']
                  for s in stats]
        offsets = [g - 0.4 + width * (i + 0.5) for g in range(len(groups))]
        bars = axes.bar(offsets, heights, width, yerr=errors, capsize=2,
                        label=entry['name'])
        # inside the bar, clear of the error bar
        axes.bar_label(bars, labels=['' if math.isnan(h) else f'{h:.1f}'
                                     for h in heights], label_type='center',
                       fontsize='x-small')
    axes.set_xticks(range(len(groups)), [label for _, label in groups])
    axes.set_ylabel('mIoU (%)')
    axes.set_title('mIoU (mean over seeds, error bar: std)')
    _legend(figure, len(entries))
    return figure


def cam_curve_figure(summary: dict) -> Optional[Figure]:
    """CAM mIoU against the background threshold, one curve per method
    (mean over seeds), its best point marked and labelled.

    Returns:
        Figure | None: None when no entry has a CAM curve.
    """
    entries = [e for e in summary['entries'] if 'cam_curve' in e]
    if not entries:
        return None
    figure = _figure(width=8.0, height=4.5)
    axes = figure.add_subplot()
    for entry in entries:
        thresholds = entry['cam_curve']['thresholds']
        miou = entry['cam_curve']['miou']
        line, = axes.plot(thresholds, miou, label=entry['name'])
        best = max(range(len(miou)), key=miou.__getitem__)
        axes.plot(thresholds[best], miou[best], 'o', color=line.get_color())
        axes.annotate(f'{miou[best]:.1f} @ {thresholds[best]:.2f}',
                      (thresholds[best], miou[best]),
                      textcoords='offset points', xytext=(3, 4),
                      fontsize='x-small', color=line.get_color())
    axes.set_xlabel('background threshold')
    axes.set_ylabel('CAM mIoU (%)')
    axes.set_title('CAM mIoU vs background threshold (mean over seeds)')
    axes.grid(alpha=0.3)
    _legend(figure, len(entries))
    return figure


def _figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at :data:`DPI` on an Agg
    canvas, laid out so that an outside legend fits."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)
    return figure


def _legend(figure: Figure, num_entries: int) -> None:
    """One legend entry per method, below the axes."""
    figure.legend(loc='outside lower center', ncols=min(4, num_entries),
                  fontsize='small')


def save_figure(figure: Figure, path: str) -> None:
    """Write the figure to ``path`` as a PNG of ``figsize * DPI`` pixels,
    atomically: a failure leaves no file behind."""
    with atomic_write(path) as f:
        figure.savefig(f, format='png', dpi=figure.dpi)
