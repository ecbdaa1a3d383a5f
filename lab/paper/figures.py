"""The paper's figures: each function draws one figure onto a given Figure or Axes and returns the
rows it drew (so the sidecar can name them). Draw inside ``paper_style()``.

    batch_panels(df, fig)                          latency (ms) and throughput (samples/s) vs batch size
    accuracy_tradeoff(df, ax, x="latency_ms_p50")  quality vs latency (ms) at one batch size, Pareto front
    accuracy_tradeoff(df, ax, x="energy_mj_per_sample")   quality vs energy per sample (mJ)
    energy_by_scheme(df, ax)                       energy per sample (mJ) per quant scheme
    sensitivity_scan(sensitivity, fig)             quality vs sparsity, one line per layer
    roofline(df, ax)                               lab.plots.roofline (GFLOP/s vs FLOP/byte)

Lines and points are medians over repeats (rows sharing a config_id); bands and
error bars span the min..max of the repeats. ``colour_of`` maps quant scheme ->
colour (data.scheme_colours of the whole data set), so a scheme has the same
colour in every figure. Rows with an ``error`` are never drawn.
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from lab import plots
from lab.pareto import pareto_front
from lab.paper import data

LATENCY_LABEL = "batch latency p50 (ms)"
THROUGHPUT_LABEL = "throughput (samples/s)"
SPARSITY_LABEL = "sparsity (fraction of weights removed)"
SCHEME_LABEL = "quantization scheme (precision)"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
HATCHES = ("", "//", "..", "xx", "\\\\")
BAND_ALPHA = 0.18
X_OF = {"latency_ms_p50": LATENCY_LABEL}
# One drawn point per scheme and series (the other varying knobs, lab.plots.series): configurations that
# differ only in what the figure does not show (a seed) are pooled as repeats, not drawn on top of each other.
POINT = ["_scheme", "_rest"]


def _colours(df, colour_of):
    return colour_of if colour_of is not None else data.scheme_colours(df)


def _by_position(labels, choices) -> dict:
    """label -> choices[i] for the i-th sorted distinct label (a stable style per series)."""
    return {label: choices[i % len(choices)] for i, label in enumerate(sorted(set(labels)))}


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


def _batch_panel(ax, agg, y: str, ylabel: str, colour_of: dict, styles: dict) -> None:
    for (scheme, rest), group in agg.groupby(["_scheme", "_rest"], sort=True):
        group = group.dropna(subset=[y]).sort_values("batch_size")
        if group.empty:
            continue
        colour = colour_of.get(scheme, "0.4")
        label = scheme if len(styles) == 1 else f"{scheme} · {rest}"
        ax.plot(group["batch_size"], group[y], color=colour, linestyle=styles[rest], marker="o", label=label)
        ax.fill_between(group["batch_size"], group[f"{y}_lo"], group[f"{y}_hi"], color=colour,
                        alpha=BAND_ALPHA, linewidth=0)
    ax.set_xlabel(plots.BATCH_LABEL)
    ax.set_ylabel(ylabel)
    _log2_axis(ax)
    if y in agg:
        _log_if_wide(ax, agg[f"{y}_lo"], agg[f"{y}_hi"])


def batch_panels(df: pd.DataFrame, fig, *, colour_of: dict | None = None, vertical: bool = False) -> pd.DataFrame:
    """Two panels: median latency per batch (ms) and throughput (samples/s) against batch size
    (log2 axis), one line per scheme (line style per other varying knob), band = min..max of repeats."""
    ok = data.ok_rows(df)
    ok = ok[plots.column(ok, "batch_size").notna()
            & (plots.column(ok, "latency_ms_p50").notna() | plots.column(ok, "throughput_sps").notna())]
    colour_of = _colours(ok, colour_of)
    ok = ok.assign(_rest=data.rest_labels(ok))
    agg = data.aggregate(ok, ["latency_ms_p50", "throughput_sps"], by=POINT + ["batch_size"])
    styles = _by_position(agg["_rest"], LINESTYLES)
    left, right = fig.subplots(2, 1, sharex=True) if vertical else fig.subplots(1, 2)
    _batch_panel(left, agg, "latency_ms_p50", LATENCY_LABEL, colour_of, styles)
    _batch_panel(right, agg, "throughput_sps", THROUGHPUT_LABEL, colour_of, styles)
    if vertical:
        left.set_xlabel("")
    handles, labels = left.get_legend_handles_labels()
    if len(handles) > 4:  # many series: below the panels, where it cannot squeeze them to nothing
        fig.legend(handles, labels, loc="outside lower center", ncol=1 if vertical else 2, fontsize="small")
    else:
        left.legend()
    return ok


def _front(agg: pd.DataFrame, x: str) -> pd.DataFrame:
    """The configurations no other beats on both cost (x, lower) and quality (higher)."""
    scored = agg.assign(_x=agg[x], _y=agg["accuracy"])
    return pareto_front(scored, {"_x": "min", "_y": "max"}).sort_values(["_x", "_y"])


def accuracy_tradeoff(df: pd.DataFrame, ax, x: str = "latency_ms_p50", *, colour_of: dict | None = None,
                      batch_size: int | None = None) -> pd.DataFrame:
    """Quality (the rows' metric) against a cost ``x`` (latency per batch in ms, or energy per sample
    in mJ) at one batch size (default: the smallest measured): one point per configuration (median),
    error bars min..max of repeats, colour = scheme, marker = other knobs; the Pareto front dashed."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, x).notna() & plots.column(ok, "accuracy").notna()]
    colour_of = _colours(ok, colour_of)
    ax.set_xlabel(plots.energy_label(ok) if x == "energy_mj_per_sample" else X_OF.get(x, x))
    ax.set_ylabel(plots.quality_label(ok))
    if ok.empty:
        return ok
    agg = data.aggregate(ok.assign(_rest=data.rest_labels(ok)), [x, "accuracy"], by=POINT)
    markers = _by_position(agg["_rest"], MARKERS)
    for _, row in agg.iterrows():
        ax.errorbar([row[x]], [row["accuracy"]],
                    xerr=[[row[x] - row[f"{x}_lo"]], [row[f"{x}_hi"] - row[x]]],
                    yerr=[[row["accuracy"] - row["accuracy_lo"]], [row["accuracy_hi"] - row["accuracy"]]],
                    fmt=markers[row["_rest"]], color=colour_of.get(row["_scheme"], "0.4"), elinewidth=0.6,
                    capsize=0, markersize=4, zorder=2)
    front = _front(agg, x)
    ax.step(front["_x"], front["_y"], where="post", linestyle="--", color="0.3", linewidth=0.8, zorder=1)
    ax.scatter(front["_x"], front["_y"], s=45, facecolors="none", edgecolors="0.2", linewidths=0.8, zorder=3)
    _log_if_wide(ax, agg[f"{x}_lo"], agg[f"{x}_hi"], axis="x")
    handles = [Line2D([], [], linestyle="none", marker="o", color=colour_of.get(s, "0.4"), label=s)
               for s in sorted(set(agg["_scheme"]))]
    if len(markers) > 1:
        handles += [Line2D([], [], linestyle="none", marker=m, color="0.4", label=r) for r, m in markers.items()]
    handles.append(Line2D([], [], linestyle="--", marker="o", markerfacecolor="none", color="0.3",
                          label="Pareto front"))
    ax.legend(handles=handles, loc="best")
    if batch is not None:
        _note(ax, f"batch size {batch}")
    return ok


def energy_by_scheme(df: pd.DataFrame, ax, *, colour_of: dict | None = None,
                     batch_size: int | None = None) -> pd.DataFrame:
    """Energy per sample (mJ, with its energy_source in the axis label) per quant scheme at one batch
    size (default: the smallest measured): a bar per scheme (grouped by other varying knobs, hatched),
    height = median, error bar = min..max of repeats."""
    ok, batch = at_batch(data.ok_rows(df), batch_size)
    ok = ok[plots.column(ok, "energy_mj_per_sample").notna()]
    colour_of = _colours(ok, colour_of)
    ax.set_ylabel(plots.energy_label(ok))
    ax.set_xlabel(SCHEME_LABEL)
    if ok.empty:
        return ok
    agg = data.aggregate(ok.assign(_rest=data.rest_labels(ok)), ["energy_mj_per_sample"], by=POINT)
    names, rests = sorted(set(agg["_scheme"])), sorted(set(agg["_rest"]))
    hatches, width = _by_position(rests, HATCHES), 0.8 / len(rests)
    for _, row in agg.iterrows():
        at = names.index(row["_scheme"]) + (rests.index(row["_rest"]) - (len(rests) - 1) / 2) * width
        value = row["energy_mj_per_sample"]
        ax.bar([at], [value], width=width * 0.95, color=colour_of.get(row["_scheme"], "0.4"),
               hatch=hatches[row["_rest"]], edgecolor="0.15", linewidth=0.4,
               yerr=[[value - row["energy_mj_per_sample_lo"]], [row["energy_mj_per_sample_hi"] - value]],
               error_kw={"elinewidth": 0.7, "capsize": 2, "capthick": 0.7, "ecolor": "0.1"})
    ax.set_xticks(range(len(names)), names)
    if len(rests) > 1:
        ax.legend(handles=[Patch(facecolor="white", edgecolor="0.15", hatch=hatches[r], label=r) for r in rests])
    if batch is not None:
        _note(ax, f"batch size {batch}")
    return ok


def sensitivity_scan(sensitivity: dict, fig, *, quality: str | None = None, vertical: bool = False) -> pd.DataFrame:
    """Per model a panel: quality after pruning one layer at a time against sparsity (fraction of
    weights removed), one line per layer. ``sensitivity``: model -> DataFrame(layer, sparsity, accuracy,
    ...). ``quality``: the y label (default: lab.plots.quality_label of the frame)."""
    from lab.paper.style import palette

    models = [m for m in sorted(sensitivity) if not data.has_values(sensitivity[m], "sparsity", "accuracy")]
    if not models:
        return pd.DataFrame()
    axes = np.atleast_1d(fig.subplots(len(models), 1) if vertical else fig.subplots(1, len(models))).ravel()
    drawn = []
    for ax, model in zip(axes, models):
        frame = sensitivity[model]
        layers = list(dict.fromkeys(frame["layer"].astype(str))) if "layer" in frame else ["all"]
        layer_of = frame["layer"].astype(str) if "layer" in frame else pd.Series("all", index=frame.index)
        colours = palette()
        for i, layer in enumerate(layers):
            part = frame[layer_of == layer].sort_values("sparsity")
            ax.plot(plots.column(part, "sparsity"), plots.column(part, "accuracy"), marker="o", markersize=2.5,
                    color=colours[i % len(colours)], linestyle=LINESTYLES[(i // len(colours)) % len(LINESTYLES)],
                    label=layer)
        ax.set_xlabel(SPARSITY_LABEL)
        ax.set_ylabel(quality or plots.quality_label(frame))
        ax.set_title(model, fontsize="small")
        if len(layers) <= 16:
            ax.legend(title="layer", fontsize=5.5, ncol=2 if len(layers) > 6 else 1)
        drawn.append(frame.assign(model=model))
    return pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


def roofline(df: pd.DataFrame, ax, *, colour_of: dict | None = None) -> pd.DataFrame:
    """lab.plots.roofline (achieved GFLOP/s against arithmetic intensity in FLOP/byte, log-log, with the
    compute and bandwidth roofs) on the rows that carry all four roofline columns."""
    draw = getattr(plots, "roofline", None)
    if draw is None:
        raise ValueError("lab.plots.roofline is not available in this version of the lab")
    ok = data.ok_rows(df)
    for col in ROOFLINE_COLUMNS:
        ok = ok[plots.column(ok, col).notna()]
    kwargs = {"ax": ax, "hue": "quant"}
    if "colour_of" in inspect.signature(draw).parameters:
        kwargs["colour_of"] = _colours(ok, colour_of)
    draw(ok, **kwargs)
    return ok


ROOFLINE_COLUMNS = ("arithmetic_intensity", "achieved_gflops", "peak_gflops", "bandwidth_gbs")
