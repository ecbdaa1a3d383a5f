"""What the data and training panels draw, on matplotlib axes (no pyplot, no widgets: any thread, under
lab.dashboard.render.MPL_LOCK).

    fig, axes = two_axes()
    draw_loader(axes, rows, current_ids)                 # samples/s per num_workers; stall fraction bars
    draw_training(axes, runs, live, current, target)     # accuracy against energy and against time

Loader rows carry ``loader_sps``, ``model_sps``, ``pipeline_sps``, ``stall_frac`` (lab.data); training
rows carry their ``curve`` of points ``{epoch, seconds, energy_j, samples_seen, accuracy}`` (lab.train).
A contended row (other processes held the cores) is drawn hollow / dashed and says so in the legend; an
error row is not drawn (the panel shows its one line). Energy always names its source on the axis.
"""
from __future__ import annotations

import math

from matplotlib.figure import Figure

from lab import plots
from lab.columns import TRAINING_LABELS
from lab.data.plots import RATE_COLUMNS, THROUGHPUT_LABEL

WIDTH_IN, HEIGHT_IN, DPI = 7.6, 5.6, 100
# Legend names of lab.data.plots' rate columns: no unit (the axis, THROUGHPUT_LABEL, has it), and the
# panel's own words for the model and the pipeline series (the panel's tests read them).
_SERIES_NAMES = {"loader_sps": "loader alone", "model_sps": "model alone (synthetic data)",
                 "pipeline_sps": "loader + model"}
LOADER_SERIES = tuple((column, _SERIES_NAMES[column]) for column in RATE_COLUMNS)
WORKERS_LABEL = "DataLoader workers (num_workers)"
# Short, not lab.data.plots.LABELS["stall_frac"]: that one drawn here measured 369 px tall on a 219 px
# axis, running off the figure; what the fraction is is said inside the axis instead (draw_loader).
STALL_LABEL = "stall fraction (0–1)"
ACCURACY_LABEL = TRAINING_LABELS["accuracy"]
# Not TRAINING_LABELS["seconds"] ("time since training began (s)"): the panel's tests read these words.
TIME_LABEL = "training time (s)"
PAST = {"color": "#9e9e9e", "alpha": 0.55, "linewidth": 1.0}
EMPTY = "no points yet"


def two_axes(width_in: float = WIDTH_IN, height_in: float = HEIGHT_IN, dpi: float = DPI):
    """A Figure (Agg, no pyplot) with two axes one above the other."""
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    return fig, fig.subplots(2, 1)


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def ok(row) -> bool:
    return not row.get("error")


def source_text(sources) -> str:
    """The energy sources named (e.g. 'estimate, rapl', sorted), or 'not known yet': never blank. A
    missing source (None, or NaN from a DataFrame) is left out, not named 'nan'."""
    found = sorted({s for s in sources if isinstance(s, str) and s})
    return ", ".join(found) if found else "not known yet"


def energy_label(sources) -> str:
    """'training energy (J, source: estimate)': the sources of the drawn rows, never blank."""
    return f"training energy (J, source: {source_text(sources)})"


def _empty(ax, text: str = EMPTY) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777")


def draw_loader(axes, rows: list[dict], current_ids=None) -> int:
    """Samples/s of the loader alone, the model alone and the two together against num_workers (top), the
    stall fraction per num_workers (bottom), for the rows of the current selection. Returns points drawn."""
    top, bottom = axes
    for ax in axes:
        ax.clear()
    wanted = set(current_ids) if current_ids is not None else None
    shown = [r for r in rows if ok(r) and (wanted is None or r.get("config_id") in wanted)]
    shown.sort(key=lambda r: int(r.get("num_workers", 0)))
    top.set_xlabel(WORKERS_LABEL)
    top.set_ylabel(THROUGHPUT_LABEL)
    bottom.set_xlabel(WORKERS_LABEL)
    bottom.set_ylabel(STALL_LABEL)
    bottom.set_ylim(0, 1)
    if not shown:
        _empty(top)
        _empty(bottom)
        return 0
    colours = plots.palette()
    xs = [int(r["num_workers"]) for r in shown]
    contended = [bool(r.get("contended")) for r in shown]
    for i, (column, label) in enumerate(LOADER_SERIES):
        ys = [_number(r.get(column)) for r in shown]
        if all(math.isnan(y) for y in ys):
            continue  # model "none": no model-alone series
        top.plot(xs, ys, "-", color=colours[i], label=label)
        top.scatter([x for x, c in zip(xs, contended) if not c], [y for y, c in zip(ys, contended) if not c],
                    color=colours[i], zorder=3)
        top.scatter([x for x, c in zip(xs, contended) if c], [y for y, c in zip(ys, contended) if c],
                    facecolors="none", edgecolors=colours[i], zorder=3)
    if any(contended):
        top.scatter([], [], facecolors="none", edgecolors="#555", label="contended (other processes used the cores)")
    top.set_xticks(sorted(set(xs)))
    top.set_ylim(bottom=0)
    top.legend(fontsize="small", loc="best")
    stalls = [_number(r.get("stall_frac")) for r in shown]
    bars = bottom.bar(xs, stalls, width=0.6, color=[("none" if c else colours[2]) for c in contended],
                      edgecolor=colours[2], hatch=None)
    for bar, c, stall in zip(bars, contended, stalls):
        if c:
            bar.set_hatch("//")
        if not math.isnan(stall):
            bottom.text(bar.get_x() + bar.get_width() / 2, min(stall, 0.9) + 0.03, f"{stall:.0%}",
                        ha="center", fontsize="small")
    bottom.set_xticks(sorted(set(xs)))
    energy = [(_number(r.get("energy_mj_per_sample")), r.get("energy_source")) for r in shown]
    note = ", ".join(f"{e:.3g}" for e, _ in energy if not math.isnan(e))
    if note:
        source = source_text(s for _, s in energy)
        bottom.set_title(f"energy per sample, loader + model (mJ, source: {source}): {note}",
                         fontsize="small")
    bottom.text(0.99, 0.97, "share of the loop's time spent waiting for the next batch", transform=bottom.transAxes,
                ha="right", va="top", fontsize="small", color="#555")
    return len(shown)


def _curve(run: dict) -> list[dict]:
    curve = run.get("curve")
    return list(curve) if isinstance(curve, (list, tuple)) else []


def _xy(points, x: str) -> tuple[list[float], list[float]]:
    return [_number(p.get(x)) for p in points], [_number(p.get("accuracy")) for p in points]


def draw_training(axes, runs: list[dict], live: dict[str, list[dict]] | None = None, current=None,
                  target: float | None = None, label_of=None, source: str | None = None,
                  live_labels: dict[str, str] | None = None) -> int:
    """Accuracy against training energy (top) and against training time (bottom).

    runs: finished training rows (this session's and earlier ones from the store): the current
        configuration's in colour, the others grey; contended runs dashed, marked in the legend.
    current: the config_id of the selection, or several (a notebook comparing runs: each in its colour)
    live: {config_id: points so far} of runs in progress, drawn in colour with a marker per epoch.
    target: the target accuracy (a dotted line); a run that reached it gets a star at its ETA / TTA.
    label_of: row -> legend text; source: the energy source of live points (their row is not in yet);
    live_labels: {config_id: legend text} of the runs in progress.
    Returns the number of curve points drawn."""
    live = live or {}
    label_of = label_of or (lambda row: str(row.get("config_id", "run")))
    current_ids = {current} if isinstance(current, str) or current is None else set(current)
    top, bottom = axes
    for ax in axes:
        ax.clear()
    finished = {r.get("config_id") for r in runs if ok(r)}
    sources = {r.get("energy_source") for r in runs if ok(r) and _curve(r)} | ({source} if live and source else set())
    top.set_xlabel(energy_label(sources))
    bottom.set_xlabel(TIME_LABEL)
    for ax in axes:
        ax.set_ylabel(ACCURACY_LABEL)
    colours, drawn, n_colour = plots.palette(), 0, 0
    past_labelled = False
    for run in runs:
        points = _curve(run)
        if not ok(run) or not points or run.get("config_id") in live:
            continue
        is_current = run.get("config_id") in current_ids
        contended = bool(run.get("contended"))
        style = ({"color": colours[n_colour % len(colours)], "linewidth": 2.0, "marker": "o", "markersize": 3}
                 if is_current else dict(PAST))
        n_colour += is_current
        if contended:
            style["linestyle"] = "--"
        label = None
        if is_current or contended:
            label = label_of(run) + (" (contended)" if contended else "") + ("" if is_current else " · earlier")
        elif not past_labelled:
            label, past_labelled = "earlier runs", True
        for ax, x in zip(axes, ("energy_j", "seconds")):
            xs, ys = _xy(points, x)
            ax.plot(xs, ys, label=label if ax is top else None, **style)
        if is_current and run.get("reached") and target is not None:
            top.plot([_number(run.get("eta_j"))], [target], "*", markersize=12, color=style["color"], zorder=4)
            bottom.plot([_number(run.get("tta_s"))], [target], "*", markersize=12, color=style["color"], zorder=4)
        drawn += len(points)
    for config_id, points in live.items():
        if not points or config_id in finished and config_id not in current_ids:
            continue
        colour = colours[n_colour % len(colours)]
        for ax, x in zip(axes, ("energy_j", "seconds")):
            xs, ys = _xy(points, x)
            ax.plot(xs, ys, "-o", color=colour, linewidth=2.0, markersize=4,
                    label=((live_labels or {}).get(config_id, "") + f" (training now: epoch "
                           f"{int(_number(points[-1].get('epoch')))})").lstrip() if ax is top else None)
        drawn += len(points)
    if target is not None:
        for ax in axes:
            ax.axhline(target, color="#444", linestyle=":", linewidth=1.0)
        top.text(0.01, target, f" target {target:g}", transform=top.get_yaxis_transform(), va="bottom",
                 fontsize="small", color="#444")
    if drawn:
        top.legend(fontsize="small", loc="lower right")
        for ax in axes:
            ax.set_ylim(0, 1.02)
            ax.set_xlim(left=0)
    else:
        _empty(top, "no training curve yet")
        _empty(bottom, "no training curve yet")
    return drawn


class FigureView:
    """A figure as lab.widgets.canvas.live_canvas draws one: ``fig`` and ``render(canvas)``."""

    def __init__(self, fig):
        self.fig = fig

    def render(self, canvas) -> str:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg.draw(canvas)
        return "full"
