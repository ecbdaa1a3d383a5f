"""What a reviewer would reject, found on the rendered figure: clipped text, legends on the data.

    problems(fig)   # [] when fine; else one line per problem, e.g.
                    # "text 'batch latency p50 (ms)' outside the canvas by 4.1 px"

Everything is measured in display pixels on the Agg renderer at the PNG's 300 dpi (the figure's
dpi is set to it), from each artist's window extent after a draw:

- text_outside: every visible, non-empty Text (axis labels, tick labels of ticks in view, titles,
  notes, legend entries) lies inside the figure canvas;
- legends_over_data: no legend's box contains a data point (line vertices, scatter offsets,
  error-bar ends) or overlaps a bar;
- legends_too_tall: no legend is taller than the plot it names (the tallest Axes for a figure
  legend, its own Axes otherwise).
"""
from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from lab.paper.layout import renderer
from lab.paper.style import PNG_DPI

TOLERANCE_PX = 0.5  # anti-aliasing slack
# Measured at the PNG's resolution: at 100 dpi Agg's hinted glyphs are up to ~15 % narrower than in
# the PDF and SVG, so a label measured there can fit and still be cut off in print.
CHECK_DPI = PNG_DPI


def _drawn(fig):
    """Draw ``fig`` (without rasterizing) at CHECK_DPI and return the renderer to measure with."""
    if fig.dpi != CHECK_DPI:
        fig.set_dpi(CHECK_DPI)
    fig.draw_without_rendering()
    return renderer(fig)


def _hidden_tick_labels(fig) -> set[int]:
    """ids of tick labels whose tick lies outside the view (never drawn, so never clipped)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not (low - 1e-12 * abs(low) <= loc <= high + 1e-12 * abs(high)):
                    hidden.update({id(tick.label1), id(tick.label2)})
    return hidden


def text_outside(fig, r=None) -> list[str]:
    """One line per visible text that sticks out of the canvas, with by how much (px).
    r: the renderer of a figure already drawn (default: draw it now)."""
    r = r or _drawn(fig)
    canvas = fig.bbox
    hidden = _hidden_tick_labels(fig)
    out = []
    for text in fig.findobj(match=Text):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        box = text.get_window_extent(r)
        over = max(canvas.x0 - box.x0, box.x1 - canvas.x1, canvas.y0 - box.y0, box.y1 - canvas.y1)
        if over > TOLERANCE_PX:
            out.append(f"text {text.get_text()!r} outside the canvas by {over:.1f} px")
    for ax in fig.axes:  # everything an Axes draws, as matplotlib itself measures it
        box = ax.get_tightbbox(r)
        if box is not None and (box.x0 < canvas.x0 - TOLERANCE_PX or box.x1 > canvas.x1 + TOLERANCE_PX
                                or box.y0 < canvas.y0 - TOLERANCE_PX or box.y1 > canvas.y1 + TOLERANCE_PX):
            out.append(f"axes {ax.get_ylabel()!r} draws outside the canvas ({box} in {canvas})")
    return out


def _points(ax) -> np.ndarray:
    """Display coordinates of the data points of ``ax``: line vertices, scatter offsets, error-bar ends."""
    chunks = [np.empty((0, 2))]
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), float)
        if len(xy) and line.get_visible():
            chunks.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter: the points are the offsets
            offsets = np.asarray(coll.get_offsets(), float).reshape(-1, 2)
            chunks.append(coll.get_offset_transform().transform(offsets))
        else:  # error bars (LineCollection), bands (PolyCollection): their vertices
            for path in coll.get_paths():
                chunks.append(coll.get_transform().transform(path.vertices))
    points = np.concatenate(chunks)
    return points[np.isfinite(points).all(axis=1)]


def _bars(ax, r) -> list:
    return [p.get_window_extent(r) for p in ax.patches if isinstance(p, Rectangle) and p.get_visible()
            and p.get_width() != 0 and p.get_height() != 0]


def _legends(fig) -> list:
    found = [(legend, None) for legend in fig.legends]
    found += [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None]
    return [(legend, ax) for legend, ax in found if legend.get_visible()]


def legends_over_data(fig, r=None) -> list[str]:
    """One line per legend that contains a data point or overlaps a bar of any Axes."""
    r = r or _drawn(fig)
    out = []
    for legend, _ in _legends(fig):
        box = legend.get_window_extent(r)
        for i, ax in enumerate(fig.axes):
            points = _points(ax)
            inside = ((points[:, 0] > box.x0) & (points[:, 0] < box.x1)
                      & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)) if len(points) else np.zeros(0, bool)
            if inside.any():
                out.append(f"legend over {int(inside.sum())} data point(s) of axes {i} ({ax.get_ylabel()!r})")
            bars = [b for b in _bars(ax, r) if b.overlaps(box)]
            if bars:
                out.append(f"legend over {len(bars)} bar(s) of axes {i} ({ax.get_ylabel()!r})")
    return out


def legends_too_tall(fig, r=None) -> list[str]:
    """One line per legend taller than its plot (its Axes, or the tallest Axes for a figure legend)."""
    r = r or _drawn(fig)
    out = []
    for legend, ax in _legends(fig):
        height = legend.get_window_extent(r).height
        plots = [ax] if ax is not None else [a for a in fig.axes if a.get_visible()]
        tallest = max((a.get_window_extent(r).height for a in plots), default=0.0)
        if height > tallest + TOLERANCE_PX:
            out.append(f"legend {height:.0f} px tall, its plot {tallest:.0f} px")
    return out


def problems(fig) -> list[str]:
    """All of the above for ``fig``; [] when a reviewer would find nothing to fix here."""
    r = _drawn(fig)
    return text_outside(fig, r) + legends_over_data(fig, r) + legends_too_tall(fig, r)
