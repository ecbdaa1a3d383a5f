"""The live view: one panel (or a pair) drawn large, updated in place, and what a point under the mouse is.

    view = FocusView()                          # a Figure ~760 px wide at 100 dpi, no pyplot
    view.show(layout("latency", "accuracy-latency"))  # the panels shown, large (a pair: one above the other)
    view.update(df, current=ids, version=v)     # new rows: the shown panels redrawn; same rows: restyled only
    row = view.hit(x, y)                         # the row of the point under display pixel (x, y), or None
    view.mark(row)                               # a tooltip on the canvas beside that point (None: hidden)
    hover_text(row); controls_for(row, values)   # lab.dashboard.describe: what a tooltip says, the controls

Why this and not the seven-panel figure (lab.dashboard.figure, still what "save figure"
writes): a new point redraws the one or two panels on screen, each with its own
axes, ticks and labels, instead of seven small ones (benchmarks/dashboard.py: the
redraw went from ~300-400 ms to a few tens of ms), and at 100 dpi its fonts are
read, not guessed (ticks 10 pt = 14 px, labels 11 pt = 15 px; the legend is HTML under the canvas).

No widgets here: the panel (lab.widgets.panel) puts this Figure on an ipympl canvas
and forwards mouse events to hit() and mark(). Everything that touches the Figure
runs under lab.dashboard.render.MPL_LOCK (matplotlib is not thread-safe).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab import plots
from lab.dashboard import controls
from lab.dashboard.describe import hover_lines
from lab.dashboard.figure import roofline_rows, tradeoff_batch
from lab.plots import SERIES_GID, column, current_ids, current_star, ok_rows

DPI = 100  # CSS px per inch of the canvas (ipympl shows a figure at its dpi, HiDPI screens get more pixels)
WIDTH_IN = 7.6  # 760 px: beside the 380 px controls in a 1280 px wide JupyterLab
PANEL_H_IN = 3.6  # one panel's axes + ticks + labels
BOTTOM_IN = 0.62  # under the lowest panel: its tick labels and x label
FONT_PT = {"tick": 10.0, "label": 11.0, "text": 10.0}  # 10 pt = 13.9 px at 100 dpi
MAX_LEGEND = 8
HIT_RADIUS_PX = 10  # how near the mouse a point is "under" it
HOVER_GID = "lab-hover"


@dataclasses.dataclass(frozen=True)
class Panel:
    title: str
    x: str  # the column on the x axis (for hit-testing)
    y: str
    draw: Callable  # draw(named_rows, ax, current, colour_of, at) -> the rows it placed (for hit-testing)
    tradeoff: bool = False  # compares configurations at one batch size


def _batch(plot, y):
    def draw(named, ax, current, colour_of, at):
        plot(named, ax, hue="_series", current=current, legend=False, colour_of=colour_of)
        placed = named[column(named, "batch_size").notna() & column(named, y).notna()] if len(named) else named
        if len(placed):  # the current configuration marked in every panel, not only by a thicker line
            current_star(ax, placed, column(placed, "batch_size"), column(placed, y), current)
        return placed
    return draw


def _tradeoff(x):
    def draw(named, ax, current, colour_of, at):
        comparable = named[named["batch_size"] == at] if at is not None and len(named) else named
        plots.tradeoff(comparable, x, current=current, ax=ax, hue="_series", colour_of=colour_of)
        if at is not None:
            ax.set_title(f"at batch size {at}", fontsize=FONT_PT["text"], loc="right")
        ok = comparable[column(comparable, x).notna() & column(comparable, "accuracy").notna()] \
            if len(comparable) else comparable
        return ok
    return draw


def _roofline(named, ax, current, colour_of, at):
    plots.roofline(named, ax, hue="_series", current=current, colour_of=colour_of, legend=False)
    ax.set_title("all batch sizes", fontsize=FONT_PT["text"], loc="right")
    return roofline_rows(named)


PANELS: dict[str, Panel] = {
    "latency": Panel("latency", "batch_size", "latency_ms_p50", _batch(plots.latency_vs_batch, "latency_ms_p50")),
    "throughput": Panel("throughput", "batch_size", "throughput_sps",
                        _batch(plots.throughput_vs_batch, "throughput_sps")),
    "memory": Panel("memory", "batch_size", "peak_mem_mib", _batch(plots.memory_vs_batch, "peak_mem_mib")),
    "energy": Panel("energy", "batch_size", "energy_mj_per_sample",
                    _batch(plots.energy_vs_batch, "energy_mj_per_sample")),
    "accuracy-latency": Panel("accuracy vs latency", "latency_ms_p50", "accuracy", _tradeoff("latency_ms_p50"),
                              tradeoff=True),
    "accuracy-energy": Panel("accuracy vs energy", "energy_mj_per_sample", "accuracy",
                             _tradeoff("energy_mj_per_sample"), tradeoff=True),
    "roofline": Panel("roofline", "arithmetic_intensity", "achieved_gflops", _roofline),
}
DEFAULT_PANEL = "latency"


def layout(primary: str, second: str | None = None) -> tuple[str, ...]:
    """The panels to show large: ``primary``, and ``second`` under it (None, '' or the same: one panel)."""
    for name in (primary, second):
        if name and name not in PANELS:
            raise ValueError(f"panel={name!r} is not allowed: one of {', '.join(PANELS)}")
    return (primary,) if not second or second == primary else (primary, second)


def figsize(panels) -> tuple[float, float]:
    return WIDTH_IN, PANEL_H_IN * len(panels) + BOTTOM_IN


# --- the figure --------------------------------------------------------------------------------------
def _clear(ax) -> None:
    for artist in [*ax.lines, *ax.collections, *ax.texts, *ax.patches]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set_title("", loc="right")
    if ax.get_xscale() != "linear":
        ax.set_xscale("linear")
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")
    ax.relim()
    ax.set_autoscale_on(True)


def _style_axes(ax) -> None:
    ax.tick_params(labelsize=FONT_PT["tick"])
    ax.xaxis.label.set_fontsize(FONT_PT["label"])
    ax.yaxis.label.set_fontsize(FONT_PT["label"])
    for text in ax.texts:  # the roofline's roof labels, the empty state
        if text.get_gid() != HOVER_GID and text.get_fontsize() < FONT_PT["text"]:
            text.set_fontsize(FONT_PT["text"])
    ax.grid(True, color="0.92", linewidth=0.8)
    ax.set_axisbelow(True)


class FocusView:
    """The panels on screen as one Figure, redrawn only where a new point lands."""

    def __init__(self, panels=(DEFAULT_PANEL,), dpi: float = DPI):
        self.fig = Figure(figsize=figsize(panels), dpi=dpi)
        self.panels: tuple[str, ...] = ()
        self.axes: dict[str, object] = {}
        self._placed: dict[str, pd.DataFrame] = {}   # panel -> the rows its points are (hit-testing)
        self._key = None
        self._df, self._current = pd.DataFrame(), None
        self._hover = None        # the annotation artist
        self.hovered: str | None = None  # config_id of the point the tooltip is on
        self.full = self.restyled = 0    # updates that redrew the panels / only moved the highlight
        self.renders = {"fast": 0, "full": 0}  # renders that reused the static layer / drew it again
        self._background = self._static = self._background_of = self._size = None
        self.legend_items, self.legend_hidden, self.legend_pareto = [], 0, False
        self.show(panels)

    # --- which panels ---
    def show(self, panels) -> bool:
        """Show ``panels`` (from layout()); True when that changed the figure (it then needs an update)."""
        panels = tuple(panels)
        if panels == self.panels:
            return False
        for name in panels:
            if name not in PANELS:
                raise ValueError(f"panel={name!r} is not allowed: one of {', '.join(PANELS)}")
        self.fig.clear()
        self._hover = None
        self._background = None
        self.fig.set_size_inches(*figsize(panels), forward=False)
        height = figsize(panels)[1]
        grid = self.fig.add_gridspec(len(panels), 1, left=0.135, right=0.985, top=1 - 0.32 / height,
                                     bottom=BOTTOM_IN / height, hspace=0.42)
        self.axes = {name: self.fig.add_subplot(grid[i, 0]) for i, name in enumerate(panels)}
        self.panels, self._key = panels, None
        for name, ax in self.axes.items():
            ax.set_title(PANELS[name].title, loc="left", fontsize=FONT_PT["label"], fontweight="bold")
        return True

    # --- drawing ---
    def update(self, df, current=None, version=None) -> str:
        """Draw ``df`` with ``current`` highlighted. 'full' when the panels were redrawn (new rows, other
        panels, another trade-off batch size), 'restyle' when only the highlight, stars, legend caption moved."""
        df = pd.DataFrame() if df is None else df
        ok = ok_rows(df)
        at = tradeoff_batch(ok, current)
        key = (version, self.panels, at) if version is not None else None
        self._df, self._current = df, current
        if key is not None and key == self._key:
            self._restyle(ok, current, at)
            self.restyled += 1
            return "restyle"
        keys = plots.series(ok) if len(ok) else pd.Series(dtype=object)
        named = ok.assign(_series=keys) if len(ok) else ok
        colour_of = plots.colours(keys)
        # Limits on the ticks (round numbers): a new point inside them leaves the axes, ticks and labels as
        # they were, and the next render reuses their bitmap. Computed here, inside the setting.
        with matplotlib.rc_context({"axes.autolimit_mode": "round_numbers"}):
            for name, ax in self.axes.items():
                title = ax.get_title(loc="left")
                _clear(ax)
                self._placed[name] = PANELS[name].draw(named, ax, current, colour_of, at)
                ax.set_title(title, loc="left", fontsize=FONT_PT["label"], fontweight="bold")
                _style_axes(ax)
                ax.get_xlim(), ax.get_ylim()
        self._hover = None
        self.hovered = None
        self._legend(named, keys, colour_of)
        self._key = key
        self.full += 1
        return "full"

    def _restyle(self, ok, current, at) -> None:
        ids = current_ids(current)
        keys = plots.series(ok) if len(ok) else pd.Series(dtype=object)
        now = ok["config_id"].isin(ids).to_numpy() if ids and len(ok) and "config_id" in ok \
            else np.zeros(len(ok), bool)
        current_keys = {SERIES_GID + str(k) for k in keys[now]}
        any_current = bool(now.any())
        for name, ax in self.axes.items():
            plots.restyle_series(ax, current_keys, any_current)
            placed = self._placed.get(name)
            if placed is not None and len(placed):
                panel = PANELS[name]
                current_star(ax, placed, column(placed, panel.x), column(placed, panel.y), current)

    def _legend(self, named, keys, colour_of) -> None:
        """The legend's entries (``legend_items``: the newest MAX_LEGEND series as (label, CSS colour),
        ``legend_hidden`` older ones not listed, ``legend_pareto`` when a panel draws a Pareto front),
        shown as HTML under the canvas (describe.legend_html). Not drawn in the figure: a legend's
        text was 60 ms of Agg rendering whenever a series was added (every first point of a new
        selection), and HTML text is sharp at any zoom."""
        from matplotlib.colors import to_hex

        names = list(dict.fromkeys(keys))
        self.legend_hidden = max(0, len(names) - MAX_LEGEND)
        self.legend_items = [(str(n), to_hex(colour_of[n])) for n in names[self.legend_hidden:]]
        self.legend_pareto = any(PANELS[p].tradeoff for p in self.panels)

    # --- rendering ---
    def render(self, canvas) -> str:
        """Draw the figure on ``canvas`` (an Agg canvas: FigureCanvasAgg or ipympl's): the static layer
        (frames, ticks, labels) from its bitmap while the limits and labels stay, the data on top.
        'fast' when the bitmap was reused, 'full' when it was drawn again (every path gives the same
        pixels: tested)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        dynamic = self._data_artists()
        for artist in dynamic:
            artist.set_animated(True)
        static = self._static_signature()
        if self._background is not None and static == self._static and \
                self._background_of is canvas and canvas.get_width_height(physical=True) == self._size:
            canvas.restore_region(self._background)
            mode = "fast"
        else:
            FigureCanvasAgg.draw(canvas)  # animated artists are skipped: the static layer only
            self._background, self._static = canvas.copy_from_bbox(self.fig.bbox), static
            self._background_of, self._size = canvas, canvas.get_width_height(physical=True)
            mode = "full"
        renderer = canvas.get_renderer()
        for artist in sorted(dynamic, key=lambda a: a.get_zorder()):
            artist.draw(renderer)
        self.renders[mode] += 1
        return mode

    def _data_artists(self) -> list:
        out = []
        for ax in self.axes.values():
            out += [*ax.lines, *ax.collections, *ax.patches, *ax.texts]
        return out

    def _static_signature(self) -> tuple:
        return tuple((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(),
                      ax.get_ylabel(), ax.get_title(loc="left"), ax.get_title(loc="right"))
                     for ax in self.axes.values()) + \
            (tuple(self.fig.get_size_inches()), self.fig.dpi)

    # --- the point under the mouse ---
    def hit(self, x: float, y: float, radius: float = HIT_RADIUS_PX) -> pd.Series | None:
        """The row of the point nearest display pixel (x, y) (matplotlib's, from the bottom left) within
        ``radius`` px, in the panel under it; None when there is none."""
        for name, ax in self.axes.items():
            if not ax.bbox.expanded(1.02, 1.05).contains(x, y):
                continue
            placed = self._placed.get(name)
            if placed is None or not len(placed):
                return None
            panel = PANELS[name]
            data = np.column_stack([column(placed, panel.x), column(placed, panel.y)])
            pixels = ax.transData.transform(data)
            distance = np.hypot(pixels[:, 0] - x, pixels[:, 1] - y)
            distance[~np.isfinite(distance)] = np.inf
            best = int(np.argmin(distance)) if len(distance) else -1
            if best < 0 or distance[best] > radius:
                return None
            return placed.iloc[best]
        return None

    def position(self, panel: str, config_id: str) -> tuple[float, float] | None:
        """Display pixel (matplotlib's, from the bottom left) of ``config_id``'s point in ``panel`` (tests)."""
        placed = self._placed.get(panel)
        if placed is None or "config_id" not in placed:
            return None
        mine = placed[placed["config_id"] == config_id]
        if not len(mine):
            return None
        p = PANELS[panel]
        x, y = self.axes[panel].transData.transform((float(column(mine, p.x).iloc[0]),
                                                     float(column(mine, p.y).iloc[0])))
        return float(x), float(y)

    def point_map(self, ratio: float = 1.0) -> list[dict]:
        """Every point of the shown panels where the browser draws it: CSS px from the canvas's top left
        (``ratio``: the canvas's device pixel ratio), with its config_id and what it is (an image map:
        the browser test hovers and clicks by it)."""
        height = self.fig.bbox.height
        out = []
        for name, ax in self.axes.items():
            placed = self._placed.get(name)
            if placed is None or not len(placed) or "config_id" not in placed:
                continue
            panel = PANELS[name]
            pixels = ax.transData.transform(np.column_stack([column(placed, panel.x), column(placed, panel.y)]))
            for (x, y), (_, row) in zip(pixels, placed.iterrows()):
                if np.isfinite(x) and np.isfinite(y) and ax.bbox.contains(x, y):
                    out.append({"panel": name, "config_id": str(row["config_id"]), "x": round(x / ratio, 1),
                                "y": round((height - y) / ratio, 1), "label": controls.describe_row(row)})
        return out

    def mark(self, row, at_xy=None) -> bool:
        """Show the tooltip for ``row`` beside its point (None hides it); True when that changed the figure."""
        config_id = None if row is None else row.get("config_id")
        if config_id == self.hovered:
            return False
        self.hovered = config_id
        if self._hover is not None:
            self._hover.remove()
            self._hover = None
        if row is None:
            return True
        ax, where = None, None
        for name, candidate in self.axes.items():  # the panel under the mouse, else the first holding the point
            placed = self._placed.get(name)
            if placed is None or not len(placed) or "config_id" not in placed:
                continue
            mine = placed[placed["config_id"] == config_id]
            if not len(mine):
                continue
            point = (float(column(mine, PANELS[name].x).iloc[0]), float(column(mine, PANELS[name].y).iloc[0]))
            if ax is None or (at_xy is not None and candidate.bbox.contains(*at_xy)):
                ax, where = candidate, point
        if ax is None:
            return True
        right = ax.transData.transform(where)[0] < ax.bbox.x0 + 0.6 * ax.bbox.width
        up = ax.transData.transform(where)[1] < ax.bbox.y0 + 0.5 * ax.bbox.height
        self._hover = ax.annotate(
            "\n".join(hover_lines(row)[:4]), where, xytext=(12 if right else -12, 12 if up else -12),
            textcoords="offset points", ha="left" if right else "right", va="bottom" if up else "top",
            fontsize=FONT_PT["text"], zorder=10, gid=HOVER_GID,
            bbox=dict(boxstyle="round,pad=0.4", facecolor="#fffff0", edgecolor="0.5", alpha=0.95),
            arrowprops=dict(arrowstyle="-", color="0.5"))
        return True
