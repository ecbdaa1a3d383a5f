"""How series look, where legends go, when a plot becomes panels, and a layout fixed before saving.

Series: colour = quant scheme (data.scheme_colours, the same in every figure). When other knobs
vary (pruning, model, ...), marker and line style name them, one pair per value, so no two
series in a plot look alike (up to len(MARKERS) values). When nothing else varies, the marker
names the scheme too, so the lines stay apart in greyscale print.

Legends never cover data: a figure legend sits outside the plots (constrained layout's
"outside" locations), right of them at double-column width (7 in leaves room) and below them at
single-column width, in as many columns as fit the width (measured on the rendered legend).
Two short legends (schemes; other knobs) replace one entry per combination, so a legend stays
shorter than its plot.

Panels: a plot with more than MAX_SERIES series is split into one panel per model (small
multiples): beyond about five, lines and points become indistinguishable.

freeze(fig): constrained layout runs once (Agg metrics at 300 dpi) and is then switched off, so each
format saved afterwards (PDF, SVG, PNG) has the same geometry whatever was saved before it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lab.paper import order

MAX_SERIES = 5
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1.2, 1, 1.2, 1, 1.2)), (0, (9, 2.5)), (0, (3, 1, 1, 1, 1, 1, 1, 1)),
              (0, (1, 3)))
NEUTRAL = "0.35"  # legend entries that stand for a knob, not a scheme: no scheme's colour


def renderer(fig):
    """The Agg renderer of ``fig`` (an Agg canvas is attached when it has none): what the PNG uses."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def freeze(fig) -> None:
    """Lay ``fig`` out once and keep that layout for every later save. Laid out at the PNG's 300 dpi:
    at 100 dpi Agg's hinted glyphs are up to ~15 % narrower than the PDF's and SVG's, and a label
    that fits there is cut off in print."""
    from lab.paper.style import PNG_DPI

    fig.set_dpi(PNG_DPI)
    renderer(fig)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


@dataclass(frozen=True)
class Styles:
    """The look of every (scheme, rest) series of a figure; schemes and rests in display order."""
    schemes: tuple
    rests: tuple
    colour_of: dict

    @property
    def by_rest(self) -> bool:
        return len(self.rests) > 1

    def of(self, scheme, rest) -> dict:
        """{'color', 'marker', 'linestyle'} of one series."""
        colour = self.colour_of.get(scheme, "0.4")
        if self.by_rest:
            i = self.rests.index(rest) if rest in self.rests else 0
            return {"color": colour, "marker": MARKERS[i % len(MARKERS)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}
        i = self.schemes.index(scheme) if scheme in self.schemes else 0
        return {"color": colour, "marker": MARKERS[i % len(MARKERS)], "linestyle": "-"}

    def handles(self, lines: bool = True) -> list:
        """Legend entries: one per scheme, then (when other knobs vary) one per rest in grey."""
        if not self.by_rest:
            return [Line2D([], [], label=str(s), **dict(self.of(s, None), linestyle="-" if lines else "none"))
                    for s in self.schemes]
        handles = [Patch(facecolor=self.colour_of.get(s, "0.4"), edgecolor="none", label=str(s)) for s in self.schemes]
        for rest in self.rests:
            style = self.of(None, rest)
            handles.append(Line2D([], [], color=NEUTRAL, marker=style["marker"], label=str(rest),
                                  linestyle=style["linestyle"] if lines else "none"))
        return handles


def styles(agg: pd.DataFrame, colour_of: dict) -> Styles:
    """The Styles of the points in ``agg`` (columns '_scheme' and '_rest', plus the knobs behind them)."""
    schemes = tuple(order.ordered("quant", agg["_scheme"])) if "_scheme" in agg else ()
    rests = tuple(order.label_order(agg, "_rest")) if "_rest" in agg else ()
    return Styles(schemes, rests, colour_of)


def series_count(df: pd.DataFrame, columns=("_scheme", "_rest")) -> int:
    """How many distinct series ``df`` draws (combinations of ``columns``)."""
    columns = [c for c in columns if c in df]
    return 0 if not columns or len(df) == 0 else len(df[columns].astype(str).drop_duplicates())


def panel_models(df: pd.DataFrame, n_series: int) -> list:
    """[None] (one plot) or the models in display order (one panel each) when more than
    MAX_SERIES series would share a plot and the rows hold more than one model."""
    if n_series <= MAX_SERIES or "model" not in df or df["model"].astype(str).nunique() < 2:
        return [None]
    return order.ordered("model", df["model"])


def grid(n: int, size: str) -> tuple[int, int]:
    """(rows, cols) for ``n`` panels: stacked at single-column width (two columns from four
    panels), side by side at double-column width (three columns from four panels)."""
    if size == "single":
        return (n, 1) if n <= 3 else (math.ceil(n / 2), 2)
    return (1, n) if n <= 3 else (math.ceil(n / 3), 3)


def legend(fig, handles: list, size: str):
    """A figure legend outside the plots: right of them at double width; below them at single width,
    in the most columns that fit the figure's width. None when there is nothing to name."""
    if not handles:
        return None
    if size == "double":
        return fig.legend(handles=handles, loc="outside right upper")
    width = fig.bbox.width * 0.98
    for ncol in range(len(handles), 0, -1):
        made = fig.legend(handles=row_major(handles, ncol), loc="outside lower center", ncol=ncol)
        if ncol == 1 or made.get_window_extent(renderer(fig)).width <= width:
            return made
        made.remove()
    return None


def row_major(handles: list, ncol: int) -> list:
    """``handles`` reordered so a legend of ``ncol`` columns (which matplotlib fills column by column,
    the first len % ncol columns one entry longer) reads in order along its rows."""
    rows, extra = divmod(len(handles), ncol)
    sizes = [rows + (j < extra) for j in range(ncol)]
    return [handles[i * ncol + j] for j in range(ncol) for i in range(sizes[j])]


def axes_legend(ax, handles: list):
    """A legend right of ``ax``, outside its data area (for a plot drawn on one given Axes)."""
    if not handles:
        return None
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def panel_title(ax, model) -> None:
    """Name a small multiple's model above it (left, so the right-hand note stays free)."""
    if model is not None:
        ax.set_title(str(model), loc="left", fontsize="small")
