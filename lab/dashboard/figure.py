"""The live dashboard's figure: six panels of lab.plots on one Figure, redrawn in place.

    fig = dashboard_figure(df, current=ids)          # also lab.plots.dashboard_figure
    fig = dashboard_figure(df2, current=ids, fig=fig) # new rows: the same axes, cleared and redrawn
    restyle(fig, df2, current=other_ids)              # same rows: only the highlight moves

No pyplot and no widgets: a worker thread may build it (one figure per thread at a time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.plots import (BAND_ALPHA, SERIES_GID, colours, column, current_ids, current_star, energy_vs_batch,
                       highlight_state, latency_vs_batch, line_style, memory_vs_batch, ok_rows, series,
                       throughput_vs_batch, tradeoff)


def tradeoff_batch(df, current) -> int | None:
    """The batch size the trade-off panels compare at: the current selection's smallest, else the most common."""
    ok = ok_rows(df)
    if len(ok) == 0 or "batch_size" not in ok:
        return None
    ids = current_ids(current)
    mine = ok[ok["config_id"].isin(ids)] if ids and "config_id" in ok else ok.iloc[0:0]
    sizes = mine["batch_size"] if len(mine) else ok["batch_size"]
    return int(sizes.min()) if len(mine) else int(sizes.mode().iloc[0])


def _clear(fig: Figure) -> None:
    """Remove what a previous dashboard_figure drew, keeping the axes and their tick objects
    (making axes and ticks is most of the cost of a fresh figure)."""
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.texts, *ax.patches]:
            artist.remove()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.set_title("", loc="right")
        ax.set_xscale("linear")
        ax.relim()
        ax.set_autoscale_on(True)
    if fig._suptitle is not None:
        fig._suptitle.set_text("")


def dashboard_figure(df, current=None, *, figsize=(12.5, 6.6), dpi: float = 72, title: str | None = None,
                     max_legend: int = 8, fig: Figure | None = None) -> Figure:
    """The dashboard's six panels on one Figure (no pyplot; safe to build in a worker thread):
    latency, throughput and peak memory against batch size; energy per sample against batch
    size; quality against latency and against energy (at one batch size, Pareto front drawn).
    ``current``: config_id(s) of the selection shown now (highlighted everywhere).
    ``fig``: a Figure an earlier call returned, redrawn in place (about 4x faster than a new one)."""
    df = pd.DataFrame() if df is None else df
    if fig is not None and len(fig.axes) == 6:
        _clear(fig)
        axes = np.array(fig.axes).reshape(2, 3)
    else:
        fig = Figure(figsize=figsize, dpi=dpi)
        axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.09, top=0.83 if title else 0.87, wspace=0.3, hspace=0.38)
    ok = ok_rows(df)
    keys = series(ok) if len(ok) else pd.Series(dtype=object)
    named = ok.assign(_series=keys) if len(ok) else ok
    colour_of = colours(keys)
    kwargs = dict(hue="_series", current=current, legend=False, colour_of=colour_of)
    latency_vs_batch(named, axes[0, 0], **kwargs)
    throughput_vs_batch(named, axes[0, 1], **kwargs)
    memory_vs_batch(named, axes[0, 2], **kwargs)
    energy_vs_batch(named, axes[1, 0], **kwargs)
    at = tradeoff_batch(ok, current)
    comparable = named[named["batch_size"] == at] if at is not None else named
    tradeoff(comparable, "latency_ms_p50", current=current, ax=axes[1, 1], hue="_series", colour_of=colour_of)
    tradeoff(comparable, "energy_mj_per_sample", current=current, ax=axes[1, 2], hue="_series",
             colour_of=colour_of)
    if at is not None:
        for ax in axes[1, 1:]:
            ax.set_title(f"at batch size {at}", fontsize="small", loc="right")
    _figure_legend(fig, axes, ok, keys, current, max_legend, title)
    if title:
        fig.suptitle(title, y=0.995, fontsize="medium")
    return fig


def _figure_legend(fig, axes, ok, keys, current, max_legend: int, title) -> None:
    """One legend for the figure, made of proxies in the plain style: it names the newest
    ``max_legend`` series and does not depend on the highlight, so a toggle back leaves it (and
    the static layer it is part of) unchanged; the caption above names the current series."""
    from matplotlib.lines import Line2D

    handles, labels = axes[0, 0].get_legend_handles_labels()
    if len(handles) > max_legend:
        hidden = len(handles) - max_legend
        handles, labels = handles[-max_legend:], labels[-max_legend:]
        labels[0] = f"(+{hidden} older)  {labels[0]}"
    _caption(fig, axes, ok, keys, current)
    plain = line_style("plain")
    proxies = [Line2D([], [], marker="o", color=h.get_color(), linewidth=plain["linewidth"],
                      markersize=plain["markersize"]) for h in handles]
    if handles:
        proxies += [Line2D([], [], linestyle="--", color="0.25", linewidth=1),
                    Line2D([], [], linestyle="none", marker="*", markersize=10, color="black")]
        labels = labels + ["Pareto front", "current"]
    wanted = (tuple(labels), tuple(tuple(p.get_color()) if not isinstance(p.get_color(), str) else p.get_color()
                                   for p in proxies), title)
    if fig.legends and getattr(fig.legends[0], "_lab_key", None) == wanted:
        return  # the same legend: keep it (and the static layer)
    for legend in list(fig.legends):
        legend.remove()
    if proxies:
        legend = fig.legend(proxies, labels, loc="upper center", ncol=min(5, len(proxies)), frameon=False,
                            fontsize="small", bbox_to_anchor=(0.5, 0.995 if not title else 0.95))
        legend._lab_key = wanted


def _caption(fig, axes, ok, keys, current) -> None:
    """'current: <series>' in the current series' colour, top left (part of the data layer)."""
    caption = next((t for t in fig.texts if t.get_gid() == "lab-caption"), None)
    if caption is None:
        caption = fig.text(0.006, 0.995, "", ha="left", va="top", fontsize="small", fontweight="bold",
                           gid="lab-caption")
    ids = current_ids(current)
    now = ok["config_id"].isin(ids).to_numpy() if ids and len(ok) and "config_id" in ok else np.zeros(len(ok), bool)
    names = list(dict.fromkeys(keys[now])) if now.any() else []
    colour = next((line.get_color() for line in axes[0, 0].lines if names and line.get_gid() == SERIES_GID + str(names[0])),
                  "black")
    caption.set_text("current: " + " | ".join(map(str, names)) if names else "")
    caption.set_color(colour)


def restyle(fig: Figure, df, current=None, *, max_legend: int = 8) -> Figure:
    """Move the highlight of a figure dashboard_figure drew from ``df`` to ``current``, without
    redrawing the data: same result as dashboard_figure(df, current, fig=fig) when the trade-off
    panels' batch size stays the same (the live dashboard's toggle back), several times faster."""
    df = pd.DataFrame() if df is None else df
    axes = np.array(fig.axes).reshape(2, 3)
    ok = ok_rows(df)
    keys = series(ok) if len(ok) else pd.Series(dtype=object)
    ids = current_ids(current)
    now = ok["config_id"].isin(ids).to_numpy() if ids and len(ok) and "config_id" in ok else np.zeros(len(ok), bool)
    current_keys = {SERIES_GID + str(k) for k in keys[now]}
    any_current = bool(now.any())
    for ax in axes[:, :].flat:
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
    at = tradeoff_batch(ok, current)
    comparable = ok[ok["batch_size"] == at] if at is not None and len(ok) else ok
    for ax, x in ((axes[1, 1], "latency_ms_p50"), (axes[1, 2], "energy_mj_per_sample")):
        shown = comparable[column(comparable, x).notna() & column(comparable, "accuracy").notna()] \
            if len(comparable) else comparable
        if len(shown):
            current_star(ax, shown, column(shown, x), column(shown, "accuracy"), current)
    title = fig._suptitle.get_text() if fig._suptitle is not None else None
    _figure_legend(fig, axes, ok, keys, current, max_legend, title or None)
    return fig
