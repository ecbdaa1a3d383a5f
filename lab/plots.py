"""DataFrame in, matplotlib Axes out. No measuring here: plots read rows.

    plots.latency_vs_batch(df)                       # p50 line, p90-p99 band, one line per quant
    plots.tradeoff(df, x="energy_mj_per_sample")     # quality against cost, Pareto front drawn
    plots.roofline(df)                               # achieved GFLOP/s vs FLOP/byte under the roofs
    plots.operator_bars(profile, ax)                 # where the time goes (lab.measure.profile)

Every function takes ``ax`` (or makes one with pyplot, for notebooks) and returns
it. Rows with an ``error`` are left out; an empty frame gives labelled, empty axes
saying so. Units are on every axis; the energy axis names its ``energy_source``
and the quality axis the row's ``metric``. ``current`` (a config_id or several)
highlights what the user is looking at now.

This is the lower layer: it imports nothing from lab.dashboard. The dashboard's
seven panels and card on one bare Figure are composed in
``lab.dashboard.figure.dashboard_figure`` (no pyplot, so a worker thread may
draw it), which builds on the functions and helpers here (column, current_ids,
line_style, current_star, to_bytes) to move a highlight without redrawing.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.config import KNOBS, SERIES_KNOBS as CONFIG_SERIES_KNOBS
from lab.pareto import pareto_front

BATCH_LABEL = KNOBS["batch_size"].label
# Knobs that can tell two series apart, in the order a series label names them (declared in lab.config).
SERIES_KNOBS = CONFIG_SERIES_KNOBS
_QUALITY_UNITS = {"accuracy": "fraction correct", "embedding_cosine": "cosine similarity to fp32"}
_EMPTY = "no points yet"


# Seaborn's colour-blind palette (seaborn.palettes.SEABORN_PALETTES["colorblind"]), written out: importing
# seaborn for ten colours cost the live dashboard's first point ~0.7 s in a fresh kernel. The same hex
# strings through matplotlib's to_rgb are the very floats seaborn returns (tested), so every figure is unchanged.
COLORBLIND = ("#0173B2", "#DE8F05", "#029E73", "#D55E00", "#CC78BC", "#CA9161", "#FBAFE4", "#949494", "#ECE133",
              "#56B4E9")


@functools.lru_cache(maxsize=1)
def palette() -> tuple:
    """Seaborn's colour-blind palette (10 colours), as RGB tuples."""
    from matplotlib.colors import to_rgb

    return tuple(to_rgb(colour) for colour in COLORBLIND)


def _new_ax():
    import matplotlib.pyplot as plt  # lazy: pyplot only for the notebook convenience path

    return plt.subplots(figsize=(5, 3.2))[1]


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that were measured (no ``error``)."""
    if df is None or len(df) == 0:
        return pd.DataFrame() if df is None else df.iloc[0:0]
    return df[df["error"].isna()] if "error" in df else df


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as floats (NaN where missing or not a number)."""
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def current_ids(current) -> set[str]:
    if current is None:
        return set()
    return {current} if isinstance(current, str) else {str(c) for c in current}


def _fmt(knob: str, value) -> str:
    if knob == "sparsity":
        return f"sparsity {float(value):g}"
    if knob == "finetune_epochs":
        return f"+{int(value)} ep" if value else "no fine-tune"
    if knob == "threads":
        return f"{int(value)} thr"
    if knob == "compile":
        return "compiled" if value is True or str(value).lower() == "true" else "eager"
    if knob == "width":
        return f"width {float(value):g}"
    if knob == "batch_size":
        return f"batch {int(value)}"
    return str(value)


def _series_label(knobs: dict) -> str:
    parts = []
    for knob, value in knobs.items():
        if knob == "sparsity" and knobs.get("prune_method", "none") == "none":
            continue
        parts.append("dense" if knob == "prune_method" and value == "none" else _fmt(knob, value))
    return " · ".join(parts)


def series(df: pd.DataFrame, exclude=("batch_size",)) -> pd.Series:
    """A short label per row naming the knobs that vary across ``df`` (except ``exclude``),
    e.g. 'digits-mlp · bf16'; the model name when nothing varies."""
    knobs = [k for k in SERIES_KNOBS if k in df and k not in exclude]
    varying = [k for k in knobs if df[k].astype(str).nunique(dropna=False) > 1]
    if "sparsity" in varying and "prune_method" not in varying:
        varying.insert(varying.index("sparsity"), "prune_method")
    shown = varying or [k for k in ("model",) if k in df]
    if not shown or len(df) == 0:
        return pd.Series("all", index=df.index, dtype=object)
    labels, seen = [], {}
    for combo in zip(*(df[k].tolist() for k in shown)):  # one label per distinct combination
        if combo not in seen:
            seen[combo] = _series_label(dict(zip(shown, combo)))
        labels.append(seen[combo])
    return pd.Series(labels, index=df.index, dtype=object)


def colours(keys) -> dict:
    """Stable colours: the i-th distinct key (in first-seen order) gets palette()[i % 10]."""
    distinct = list(dict.fromkeys(keys))
    return {key: palette()[i % len(palette())] for i, key in enumerate(distinct)}


def _empty(ax, message: str = _EMPTY):
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.5")


def line_style(state: str) -> dict:
    """Line style of a series: 'current' (the selection shown now), 'faded' (another one while a
    selection is shown) or 'plain' (no selection)."""
    return {"linewidth": 2.4 if state == "current" else 1.2, "markersize": 5 if state == "current" else 3,
            "alpha": 0.45 if state == "faded" else 1.0, "zorder": 3 if state == "current" else 2}


def restyle_series(ax, current_keys: set, any_current: bool) -> None:
    """Restyle ``ax``'s series lines and bands in place: those whose gid is in ``current_keys`` as the
    current selection, the others faded while one is shown (line_style, BAND_ALPHA)."""
    for line in ax.lines:
        gid = line.get_gid() or ""
        if gid.startswith(SERIES_GID):
            style = line_style(highlight_state(gid in current_keys, any_current))
            line.set_linewidth(style["linewidth"])
            line.set_markersize(style["markersize"])
            line.set_alpha(style["alpha"])
            line.set_zorder(style["zorder"])
    for patch in ax.patches:
        gid = patch.get_gid() or ""
        if gid.startswith(SERIES_GID):
            patch.set_alpha(BAND_ALPHA[highlight_state(gid in current_keys, any_current)])


BAND_ALPHA = {"current": 0.2, "faded": 0.08, "plain": 0.2}
SERIES_GID = "lab-series:"  # gid prefix of a series' artists, so restyle() finds them


def highlight_state(is_current: bool, any_current: bool) -> str:
    """'current', 'faded' (another series is current) or 'plain' (nothing is)."""
    return "current" if is_current else "faded" if any_current else "plain"


def _batch_plot(df, ax, y: str, ylabel: str, hue: str, current, legend: bool, band: tuple[str, str] | None = None,
                colour_of: dict | None = None):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    ax = ax if ax is not None else _new_ax()
    ax.set_xlabel(BATCH_LABEL)
    ax.set_ylabel(ylabel)
    ok = ok_rows(df)
    xs, ys = column(ok, "batch_size").to_numpy(), column(ok, y).to_numpy()
    keep = ~np.isnan(xs) & ~np.isnan(ys)
    if not keep.any():
        _empty(ax)
        return ax
    keys = (ok[hue] if hue in ok else series(ok)).to_numpy()[keep]
    xs, ys = xs[keep], ys[keep]
    ids = current_ids(current)
    now = ok["config_id"].isin(ids).to_numpy()[keep] if ids and "config_id" in ok else np.zeros(len(xs), bool)
    lows, highs = (column(ok, band[0]).to_numpy()[keep], column(ok, band[1]).to_numpy()[keep]) if band else (None, None)
    colour_of = colour_of or colours(keys)
    for key in dict.fromkeys(keys):  # first-seen order: stable colours and legend
        mine = np.flatnonzero(keys == key)
        mine = mine[np.argsort(xs[mine], kind="stable")]
        state = highlight_state(bool(now[mine].any()), bool(now.any()))
        label = f"{hue}={key}" if hue in ok and not hue.startswith("_") else str(key)
        # Line2D + add_line: a third cheaper than ax.plot, and the live dashboard makes ~50 per redraw.
        line = Line2D(xs[mine], ys[mine], marker="o", color=colour_of.get(key) or palette()[0], label=label,
                      gid=f"{SERIES_GID}{key}", **line_style(state))
        ax.add_line(line)
        if band is not None:
            ok_band = ~np.isnan(lows[mine]) & ~np.isnan(highs[mine])
            if ok_band.any():
                bx, lo, hi = xs[mine][ok_band], lows[mine][ok_band], highs[mine][ok_band]
                polygon = Polygon(np.column_stack([np.r_[bx, bx[::-1]], np.r_[lo, hi[::-1]]]), closed=True,
                                  facecolor=line.get_color(), alpha=BAND_ALPHA[state], linewidth=0,
                                  gid=f"{SERIES_GID}{key}", zorder=1)
                ax.add_patch(polygon)
    ax.autoscale_view()
    _log2_batch_axis(ax)
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _log2_batch_axis(ax) -> None:
    """Batch sizes on a log2 axis labelled 1, 2, 4, ... in plain text (mathtext 2^n labels cost a
    parse per tick on every redraw; the live dashboard redraws on every point)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, numticks=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def latency_vs_batch(df, ax=None, hue: str = "quant", current=None, legend: bool = True, colour_of=None):
    """Median latency per batch (ms, line) with the p90-p99 band, one line per ``hue`` value."""
    return _batch_plot(df, ax, "latency_ms_p50", "latency per batch, p50 (ms)", hue, current, legend,
                       band=("latency_ms_p90", "latency_ms_p99"), colour_of=colour_of)


def throughput_vs_batch(df, ax=None, hue: str = "quant", current=None, legend: bool = True, colour_of=None):
    """Throughput (samples/s) per batch size, one line per ``hue`` value."""
    return _batch_plot(df, ax, "throughput_sps", "throughput (samples/s)", hue, current, legend,
                       colour_of=colour_of)


def memory_vs_batch(df, ax=None, hue: str = "quant", current=None, legend: bool = True, colour_of=None):
    """Peak memory one forward pass adds (MiB) per batch size, one line per ``hue`` value."""
    return _batch_plot(df, ax, "peak_mem_mib", "peak memory per pass (MiB)", hue, current, legend,
                       colour_of=colour_of)


def energy_label(df) -> str:
    """'energy per sample (mJ, estimate)': the unit and where the numbers came from."""
    sources = []
    if df is not None and "energy_source" in df:
        sources = [str(s) for s in dict.fromkeys(ok_rows(df)["energy_source"].dropna())]
    return f"energy per sample (mJ, {' / '.join(sources) if sources else 'source unknown'})"


def energy_vs_batch(df, ax=None, hue: str = "quant", current=None, legend: bool = True, colour_of=None):
    """Energy per sample (mJ) per batch size; the axis names the energy_source (nvml, rapl, estimate)."""
    return _batch_plot(df, ax, "energy_mj_per_sample", energy_label(df), hue, current, legend,
                       colour_of=colour_of)


def quality_label(df, y: str = "accuracy") -> str:
    """The quality axis: the rows' ``metric`` (e.g. accuracy, embedding_cosine) with its unit."""
    metrics = []
    if df is not None and "metric" in df and y == "accuracy":
        metrics = [str(m) for m in dict.fromkeys(ok_rows(df)["metric"].dropna())]
    if len(metrics) == 1:
        name = metrics[0]
        return f"{name} ({_QUALITY_UNITS.get(name, 'higher is better')})"
    if metrics:
        return f"quality: {' / '.join(metrics)} (higher is better)"
    return f"{y} ({_QUALITY_UNITS.get(y, 'higher is better')})"


_X_LABELS = {"latency_ms_p50": "latency per batch, p50 (ms)", "energy_mj_per_sample": None,
             "latency_ms_p99": "latency per batch, p99 (ms)", "peak_mem_mib": "peak memory per pass (MiB)",
             "model_size_mib": "model size (MiB)", "flops": "FLOPs per sample"}


def tradeoff(df, x: str = "latency_ms_p50", y: str = "accuracy", current=None, ax=None, hue: str | None = None,
             colour_of=None, front: bool = True):
    """Quality (``y``, higher is better) against a cost (``x``, lower is better): every measured row
    a point, the Pareto front (lab.pareto) a dashed staircase, ``current`` config_id(s) ringed."""
    ax = ax if ax is not None else _new_ax()
    ax.set_xlabel(energy_label(df) if x == "energy_mj_per_sample" else _X_LABELS.get(x) or x)
    ax.set_ylabel(quality_label(df, y))
    ok = ok_rows(df)
    ok = ok[column(ok, x).notna() & column(ok, y).notna()] if len(ok) else ok
    if len(ok) == 0:
        _empty(ax)
        return ax
    keys = ok[hue] if hue and hue in ok else series(ok)
    colour_of = colour_of or colours(keys)
    xs, ys = column(ok, x), column(ok, y)
    ax.scatter(xs, ys, s=22, c=[colour_of.get(k, "0.5") for k in keys], zorder=2, linewidths=0)
    if front:
        best = pareto_front(ok.assign(_x=xs, _y=ys), {"_x": "min", "_y": "max"}).sort_values("_x")
        if len(best):
            # The staircase: from each front point, the next is cheaper-to-worse.
            ax.step(best["_x"], best["_y"], where="post", linestyle="--", color="0.25", linewidth=1,
                    zorder=1, label="Pareto front")
            ax.scatter(best["_x"], best["_y"], s=40, facecolors="none", edgecolors="0.25", linewidths=1, zorder=3)
    current_star(ax, ok, xs, ys, current)
    return ax


ROOFLINE_X_LABEL = "arithmetic intensity (FLOP/byte)"
ROOFLINE_Y_LABEL = "achieved rate (GFLOP/s)"
ROOF_GID = "lab-roof"  # gid of the roof lines, so tests and the dashboard can find them


def roofline(df, ax=None, hue: str = "quant", current=None, colour_of=None, legend: bool = True):
    """Achieved GFLOP/s against arithmetic intensity (FLOP/byte) on log-log axes, one colour per ``hue``
    value, under the device's roofs (lab.roofline): the memory roof (bandwidth_gbs x intensity, a
    slope) and a flat peak_gflops roof for each precision the rows use, each labelled with its value."""
    ax = ax if ax is not None else _new_ax()
    ax.set_xlabel(ROOFLINE_X_LABEL)
    ax.set_ylabel(ROOFLINE_Y_LABEL)
    ok = ok_rows(df)
    if len(ok):
        ok = ok[(column(ok, "arithmetic_intensity") > 0) & (column(ok, "achieved_gflops") > 0)]  # NaN: False
    if len(ok) == 0:
        _empty(ax)
        return ax
    xs, ys = column(ok, "arithmetic_intensity").to_numpy(), column(ok, "achieved_gflops").to_numpy()
    keys = (ok[hue] if hue in ok else series(ok)).to_numpy()
    colour_of = colour_of or colours(keys)
    for key in dict.fromkeys(keys):  # first-seen order: stable colours and legend
        mine = keys == key
        label = f"{hue}={key}" if hue in ok and not hue.startswith("_") else str(key)
        ax.scatter(xs[mine], ys[mine], s=22, color=colour_of.get(key) or palette()[0], label=label, zorder=2,
                   linewidths=0)
    _roofs(ax, ok, xs)
    current_star(ax, ok, xs, ys, current)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _roofs(ax, ok: pd.DataFrame, xs: np.ndarray) -> None:
    """The memory slope (the rows' highest bandwidth_gbs) and one flat roof per distinct peak_gflops."""
    from lab.roofline import precision_of

    bandwidths = column(ok, "bandwidth_gbs").to_numpy()
    bandwidth = np.nanmax(bandwidths) if np.isfinite(bandwidths).any() and np.nanmax(bandwidths) > 0 else None
    names: dict[float, list[str]] = {}  # peak GFLOP/s -> the precisions it is the ceiling of
    for quant, peak in zip(ok["quant"] if "quant" in ok else [None] * len(ok), column(ok, "peak_gflops")):
        if np.isfinite(peak) and peak > 0:
            try:
                name = precision_of(str(quant))
            except ValueError:
                name = str(quant)
            names.setdefault(float(peak), [])
            if name not in names[float(peak)]:
                names[float(peak)].append(name)
    ridges = [p / bandwidth for p in names] if bandwidth else []
    lo, hi = min([xs.min(), *ridges]) / 4, max([xs.max(), *ridges]) * 4
    if bandwidth:
        top = max(ridges) if ridges else hi
        ax.plot([lo, top], [bandwidth * lo, bandwidth * top], color="0.35", linewidth=1, zorder=1, gid=ROOF_GID,
                label=f"memory roof {bandwidth:.3g} GB/s")
    for peak, precisions in sorted(names.items()):
        start = peak / bandwidth if bandwidth else lo
        label = f"{' / '.join(precisions)} peak {peak:.3g} GFLOP/s"
        ax.plot([start, hi], [peak, peak], color="0.35", linewidth=1, linestyle="--", zorder=1, gid=ROOF_GID,
                label=label)
        ax.text(hi, peak, f" {' / '.join(precisions)}", va="center", ha="left", fontsize="x-small", color="0.35")


def current_star(ax, ok, xs, ys, current) -> None:
    """The current configuration(s) as black stars (one artist, gid 'lab-current'; kept even when empty)."""
    ids = current_ids(current)
    now = ok["config_id"].isin(ids).to_numpy() if ids and "config_id" in ok else np.zeros(len(ok), bool)
    points = np.column_stack([np.asarray(xs)[now], np.asarray(ys)[now]]) if now.any() else np.empty((0, 2))
    star = next((c for c in ax.collections if c.get_gid() == "lab-current"), None)
    if star is None:
        ax.scatter(points[:, 0], points[:, 1], s=130, marker="*", c="black", zorder=4,
                   label="current" if len(points) else "_current", gid="lab-current")
    else:
        star.set_offsets(points)
        star.set_label("current" if len(points) else "_current")


def operator_frame(profile) -> pd.DataFrame:
    """A lab.measure.profile.OperatorProfile's top operators: operator, calls (per forward pass),
    ms_per_forward (self time, ms), share (fraction 0-1 of the profiled total)."""
    return pd.DataFrame([(op.name, op.calls, op.ms_per_forward, op.share) for op in profile.operators],
                        columns=["operator", "calls", "ms_per_forward", "share"])


def operator_bars(profile, ax):
    """Horizontal bars of a profile's top operators' time per forward pass (ms), largest at the top,
    each bar's share of the profiled total written on it. Returns ``ax``."""
    names = [_short_operator(op.name) for op in profile.operators]
    times = [op.ms_per_forward for op in profile.operators]
    positions = list(range(len(names)))
    bars = ax.barh(positions, times, color=COLORBLIND[0])
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.invert_yaxis()  # the largest first, read from the top
    what = "device time" if profile.time_kind == "self device time" else "CPU time"
    ax.set_xlabel(f"self {what} per forward pass (ms)")
    ax.set_ylabel("operator")
    for bar, op in zip(bars, profile.operators):
        share = "<1%" if 0 < op.share < 0.005 else f"{op.share:.0%}"  # not "0%" for an operator that ran
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {share}",
                va="center", ha="left", fontsize="small")
    if times:
        ax.set_xlim(0, max(times) * 1.15)  # room for the share written after the longest bar
    title = f"Where the time goes{': ' + profile.label if profile.label else ''}"
    ax.set_title(f"{title}\noperators {profile.total_ms:.3g} ms of {profile.wall_ms:.3g} ms wall per forward "
                 f"({profile.threads} thread{'s' if profile.threads != 1 else ''}, {profile.device})",
                 fontsize="medium")
    return ax


def _short_operator(name: str, limit: int = 40) -> str:
    # Custom and torchao operators can have long namespaced names; the axis keeps its width.
    return name if len(name) <= limit else name[:limit - 1] + "…"


def to_bytes(fig: Figure, format: str = "png", **kwargs) -> bytes:
    """Render ``fig`` (Agg, no pyplot) to bytes in ``format`` (png, svg, pdf)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    if format == "png":
        kwargs.setdefault("pil_kwargs", {"compress_level": 1})  # fast: the PNG is redrawn on every point
    fig.savefig(buffer, format=format, **kwargs)
    return buffer.getvalue()
