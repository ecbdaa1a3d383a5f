"""The paper's figures drawn from result rows: each function draws onto a given Figure or Axes and
returns the rows it drew (so the sidecar can name them and list the ones it left out). Draw inside
``paper_style()``.

    batch_panels(df, fig, size="double")                 latency (ms) and throughput (samples/s) vs batch size
    accuracy_panels(df, fig, x="latency_ms_p50")         quality vs latency (ms) at one batch size, Pareto front
    accuracy_panels(df, fig, x="energy_mj_per_sample")   quality vs energy per sample (mJ)
    energy_panels(df, fig)                               energy per sample (mJ) per quant scheme
    accuracy_tradeoff(df, ax) / energy_by_scheme(df, ax) one plot on a given Axes
    sensitivity_scan, roofline                           lab.paper.figures_extra

Lines and points are medians over repeats (rows sharing a config_id); bands and error bars span
the min..max of the repeats. ``colour_of`` maps quant scheme -> colour (data.scheme_colours of the
whole data set), so a scheme has the same colour in every figure; schemes, and every other knob,
appear in display order (lab.paper.order: fp32 and no pruning first). Legends sit outside the data
and more than about five series become one panel per model (lab.paper.layout). Rows with an
``error`` are never drawn.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from lab import plots
from lab.pareto import pareto_front
from lab.paper import data, figures_extra, layout

LATENCY_LABEL = "batch latency p50 (ms)"
THROUGHPUT_LABEL = "throughput (samples/s)"
SCHEME_LABEL = "quantization scheme (precision)"
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")
BAND_ALPHA = 0.18
X_OF = {"latency_ms_p50": LATENCY_LABEL}
# One drawn point per scheme and series (the other varying knobs, lab.plots.series): configurations that
# differ only in what the figure does not show (a seed) are pooled as repeats, not drawn on top of each other.
POINT = ["_scheme", "_rest"]
# Drawn in lab.paper.figures_extra; named here too, so every figure function is figures.<name>.
ROOFLINE_COLUMNS, roofline, sensitivity_scan = (figures_extra.ROOFLINE_COLUMNS, figures_extra.roofline,
                                                figures_extra.sensitivity_scan)


def _pareto_handle() -> Line2D:
    """The legend entry of the Pareto front (made inside paper_style, so it has the style's line width)."""
    return Line2D([], [], linestyle="--", linewidth=0.8, marker="o", markerfacecolor="none", color="0.3",
                  label="Pareto front")


def _colours(df, colour_of):
    return colour_of if colour_of is not None else data.scheme_colours(df)


def _log2_axis(ax) -> None:
    """Batch sizes on a log2 axis with plain labels 1, 2, 4, ..."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _note(ax, text: str) -> None:
    """A small note above the axes, right-aligned (never over the data)."""
    ax.set_title(text, loc="right", fontsize="x-small", color="0.35")


def _log_if_wide(ax, lows, highs, axis: str = "y") -> None:
    """Log scale when values span more than 30x, so the small ones stay readable."""
    lows, highs = np.asarray(lows, float), np.asarray(highs, float)
    low, high = np.nanmin(lows) if lows.size else np.nan, np.nanmax(highs) if highs.size else np.nan
    if low > 0 and high / low > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def at_batch(ok: pd.DataFrame, batch_size):
    """Rows at ``batch_size`` (default: the smallest measured), and that batch size."""
    batch = batch_size if batch_size is not None else data.smallest_batch(ok)
    if batch is None or "batch_size" not in ok:
        return ok, batch
    return ok[plots.column(ok, "batch_size") == batch], batch


def _with_series(ok: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """``ok`` with '_scheme' and '_rest' columns, and the models to panel by ([None]: one plot)."""
    ok = ok.assign(_scheme=data.schemes(ok))
    models = layout.panel_models(ok, layout.series_count(ok.assign(_rest=data.rest_labels(ok))))
    return ok.assign(_rest=data.rest_labels(ok, by_model=models != [None])), models


def _of_model(df: pd.DataFrame, model) -> pd.DataFrame:
    return df if model is None else df[df["model"].astype(str) == str(model)]


def _panels(fig, models: list, size: str) -> list:
    """One Axes per model (or one Axes), in a grid that fits ``size``; spare grid cells removed."""
    rows, cols = layout.grid(len(models), size)
    axes = list(np.ravel(fig.subplots(rows, cols, squeeze=False)))
    for spare in axes[len(models):]:
        fig.delaxes(spare)
    return axes[:len(models)]


def _batch_panel(ax, agg, y: str, ylabel: str, look: layout.Styles) -> None:
    for scheme in look.schemes:
        for rest in look.rests:
            group = agg[(agg["_scheme"] == scheme) & (agg["_rest"] == rest)].dropna(subset=[y])
            if group.empty:
                continue
            group = group.sort_values("batch_size")
            style = look.of(scheme, rest)
            label = scheme if not look.by_rest else f"{scheme} · {rest}"
            ax.plot(group["batch_size"], group[y], label=label, **style)
            ax.fill_between(group["batch_size"], group[f"{y}_lo"], group[f"{y}_hi"], color=style["color"],
                            alpha=BAND_ALPHA, linewidth=0)
    ax.set_xlabel(plots.BATCH_LABEL)
    ax.set_ylabel(ylabel)
    _log2_axis(ax)


def batch_panels(df: pd.DataFrame, fig, *, colour_of: dict | None = None, vertical: bool = False,
                 size: str | None = None) -> pd.DataFrame:
    """Median latency per batch (ms) and throughput (samples/s) against batch size (log2 axis), one
    line per scheme and other varying knobs, band = min..max of repeats. Two panels (stacked at
    single-column width, side by side at double), or a row of two per model when the lines are many.
    size: 'single' or 'double' (default: 'single' when ``vertical``)."""
    size = size or ("single" if vertical else "double")
    ok = data.ok_rows(df)
    ok = ok[plots.column(ok, "batch_size").notna()
            & (plots.column(ok, "latency_ms_p50").notna() | plots.column(ok, "throughput_sps").notna())]
    colour_of = _colours(ok, colour_of)
    ok, models = _with_series(ok)
    split = models != [None]
    agg = data.aggregate(ok, ["latency_ms_p50", "throughput_sps"],
                         by=POINT + ["batch_size"] + (["model"] if split else []))
    look = layout.styles(agg, colour_of)
    if split:
        grid = fig.subplots(len(models), 2, sharex=True, sharey="col", squeeze=False)
        rows = [(model, grid[i, 0], grid[i, 1]) for i, model in enumerate(models)]
    else:
        first, second = fig.subplots(2, 1, sharex=True) if size == "single" else fig.subplots(1, 2)
        rows = [(None, first, second)]
    for model, latency, throughput in rows:
        part = _of_model(agg, model)
        _batch_panel(latency, part, "latency_ms_p50", LATENCY_LABEL, look)
        _batch_panel(throughput, part, "throughput_sps", THROUGHPUT_LABEL, look)
        for ax in (latency, throughput):
            layout.panel_title(ax, model)
    for ax, y in ((rows[0][1], "latency_ms_p50"), (rows[0][2], "throughput_sps")):
        if y in agg:  # one scale per column: shared across the models' panels
            _log_if_wide(ax, agg[f"{y}_lo"], agg[f"{y}_hi"])
    stacked = [ax for _, a, b in rows[:-1] for ax in (a, b)] if split else [rows[0][1]] if size == "single" else []
    for ax in stacked:  # the x label once, under the bottom row
        ax.set_xlabel("")
    layout.legend(fig, look.handles(), size)
    return ok


def _front(agg: pd.DataFrame, x: str) -> pd.DataFrame:
    """The configurations no other beats on both cost (x, lower) and quality (higher)."""
    scored = agg.assign(_x=agg[x], _y=agg["accuracy"])
    return pareto_front(scored, {"_x": "min", "_y": "max"}).sort_values(["_x", "_y"])


def accuracy_tradeoff(df: pd.DataFrame, ax, x: str = "latency_ms_p50", *, colour_of: dict | None = None,
                      batch_size: int | None = None, look: layout.Styles | None = None,
                      legend: bool = True) -> pd.DataFrame:
    """Quality (the rows' metric) against a cost ``x`` (latency per batch in ms, or energy per sample
    in mJ) at one batch size (default: the smallest measured): one point per configuration (median),
    error bars min..max of repeats, colour = scheme, marker = other knobs; the Pareto front dashed.
    look: the figure's series styles (default: from these rows); legend: right of ``ax``."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, x).notna() & plots.column(ok, "accuracy").notna()]
    colour_of = _colours(ok, colour_of)
    ax.set_xlabel(plots.energy_label(ok) if x == "energy_mj_per_sample" else X_OF.get(x, x))
    ax.set_ylabel(plots.quality_label(ok))
    if ok.empty:
        return ok
    if "_rest" not in ok:
        ok = ok.assign(_rest=data.rest_labels(ok))
    agg = data.aggregate(ok, [x, "accuracy"], by=POINT)
    look = look or layout.styles(agg, colour_of)
    for _, row in agg.iterrows():
        style = look.of(row["_scheme"], row["_rest"])
        ax.errorbar([row[x]], [row["accuracy"]],
                    xerr=[[row[x] - row[f"{x}_lo"]], [row[f"{x}_hi"] - row[x]]],
                    yerr=[[row["accuracy"] - row["accuracy_lo"]], [row["accuracy_hi"] - row["accuracy"]]],
                    fmt=style["marker"], color=style["color"], elinewidth=0.6, capsize=0, markersize=4, zorder=2)
    front = _front(agg, x)
    ax.step(front["_x"], front["_y"], where="post", linestyle="--", color="0.3", linewidth=0.8, zorder=1)
    ax.scatter(front["_x"], front["_y"], s=45, facecolors="none", edgecolors="0.2", linewidths=0.8, zorder=3)
    _log_if_wide(ax, agg[f"{x}_lo"], agg[f"{x}_hi"], axis="x")
    if legend:
        layout.axes_legend(ax, look.handles(lines=False) + [_pareto_handle()])
    if batch is not None:
        _note(ax, f"batch size {batch}")
    return ok


def accuracy_panels(df: pd.DataFrame, fig, x: str = "latency_ms_p50", *, colour_of: dict | None = None,
                    batch_size: int | None = None, size: str = "double") -> pd.DataFrame:
    """accuracy_tradeoff on ``fig``: one plot, or one panel per model when the points are many,
    with one legend outside them."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, x).notna() & plots.column(ok, "accuracy").notna()]
    colour_of = _colours(ok, colour_of)
    ok, models = _with_series(ok)
    look = layout.styles(ok, colour_of)
    drawn = []
    for i, (ax, model) in enumerate(zip(_panels(fig, models, size), models)):
        drawn.append(accuracy_tradeoff(_of_model(ok, model), ax, x, colour_of=colour_of, batch_size=batch,
                                       look=look, legend=False))
        layout.panel_title(ax, model)
        if i and ax.get_title(loc="right"):
            ax.set_title("", loc="right")  # the batch size once, on the first panel
    layout.legend(fig, look.handles(lines=False) + [_pareto_handle()], size)
    return pd.concat(drawn) if drawn else ok


def energy_by_scheme(df: pd.DataFrame, ax, *, colour_of: dict | None = None, batch_size: int | None = None,
                     look: layout.Styles | None = None, legend: bool = True) -> pd.DataFrame:
    """Energy per sample (mJ, with its energy_source in the axis label) per quant scheme at one batch
    size (default: the smallest measured): a bar per scheme (grouped by other varying knobs, hatched),
    height = median, error bar = min..max of repeats. Schemes in display order, fp32 first."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, "energy_mj_per_sample").notna()]
    colour_of = _colours(ok, colour_of)
    ax.set_ylabel(plots.energy_label(ok))
    ax.set_xlabel(SCHEME_LABEL)
    if ok.empty:
        return ok
    if "_rest" not in ok:
        ok = ok.assign(_rest=data.rest_labels(ok))
    agg = data.aggregate(ok, ["energy_mj_per_sample"], by=POINT)
    look = look or layout.styles(agg, colour_of)
    names = [s for s in look.schemes if s in set(agg["_scheme"])]
    rests = [r for r in look.rests if r in set(agg["_rest"])]
    hatches, width = hatch_of(look.rests), 0.8 / len(rests)
    for _, row in agg.iterrows():
        at = names.index(row["_scheme"]) + (rests.index(row["_rest"]) - (len(rests) - 1) / 2) * width
        value = row["energy_mj_per_sample"]
        ax.bar([at], [value], width=width * 0.95, color=colour_of.get(row["_scheme"], "0.4"),
               hatch=hatches[row["_rest"]], edgecolor="0.15", linewidth=0.4,
               yerr=[[value - row["energy_mj_per_sample_lo"]], [row["energy_mj_per_sample_hi"] - value]],
               error_kw={"elinewidth": 0.7, "capsize": 2, "capthick": 0.7, "ecolor": "0.1"})
    ax.set_xticks(range(len(names)), names)
    if legend and look.by_rest:
        layout.axes_legend(ax, hatch_handles(look.rests))
    if batch is not None:
        _note(ax, f"batch size {batch}")
    return ok


def hatch_of(rests) -> dict:
    """rest label -> hatch, by position in display order."""
    return {rest: HATCHES[i % len(HATCHES)] for i, rest in enumerate(rests)}


def hatch_handles(rests) -> list:
    return [Patch(facecolor="white", edgecolor="0.15", hatch=h, label=r) for r, h in hatch_of(rests).items()]


def energy_panels(df: pd.DataFrame, fig, *, colour_of: dict | None = None, batch_size: int | None = None,
                  size: str = "double") -> pd.DataFrame:
    """energy_by_scheme on ``fig``: one plot, or one panel per model when the bars are many, with
    the hatch legend outside them."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, "energy_mj_per_sample").notna()]
    colour_of = _colours(ok, colour_of)
    ok = ok.assign(_scheme=data.schemes(ok))
    # Bars of one scheme stand side by side, one per other knob: those are the series to count.
    models = layout.panel_models(ok, layout.series_count(ok.assign(_rest=data.rest_labels(ok)), ["_rest"]))
    ok = ok.assign(_rest=data.rest_labels(ok, by_model=models != [None]))
    look = layout.styles(ok, colour_of)
    drawn = []
    for i, (ax, model) in enumerate(zip(_panels(fig, models, size), models)):
        drawn.append(energy_by_scheme(_of_model(ok, model), ax, colour_of=colour_of, batch_size=batch, look=look,
                                      legend=False))
        layout.panel_title(ax, model)
        if i:
            ax.set_title("", loc="right")
    if look.by_rest:
        layout.legend(fig, hatch_handles(look.rests), size)
    return pd.concat(drawn) if drawn else ok

