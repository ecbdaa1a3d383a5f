"""The dashboard's seven-panel figure: seven panels of lab.plots and a card on one Figure — what
"save figure" writes (the live view is lab.dashboard.views).

    fig = dashboard_figure(df, current=ids)
    fig = dashboard_figure(df2, current=ids, fig=fig) # new rows: the same axes, cleared and redrawn

Layout, a 2 x 4 grid:

    latency      throughput   peak memory   energy        (against batch size)
    acc vs lat   acc vs energy  roofline    card          (trade-offs at one batch size; roofline: all rows)

The card is text, not axes: energy per sample with its source, g CO2e per 1k, USD per
1M, roofline fraction and bound of the current selection (at the trade-off batch size),
and where the carbon intensity and price came from.

No pyplot and no widgets: a worker thread may build it (one figure per thread at a time).
"""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.numbers import finite
from lab.plots import (SERIES_GID, colours, column, current_ids, energy_vs_batch, latency_vs_batch, line_style,
                       memory_vs_batch, ok_rows, roofline, series, throughput_vs_batch, tradeoff)

# fig.axes, in creation order (row-major in the 2 x 4 grid; the grid's last slot is the card).
LATENCY, THROUGHPUT, MEMORY, ENERGY, VS_LATENCY, VS_ENERGY, ROOFLINE = range(7)
PANELS = 7
GRID = (2, 4)
CARD_GID, CARD_UNITS_GID, CARD_NOTE_GID = "lab-card", "lab-card-units", "lab-card-note"
CARD_GIDS = (CARD_GID, CARD_UNITS_GID, CARD_NOTE_GID)
CARD_NUMBERS_W = 0.05  # figure fraction for the card's right-aligned numbers (~45 px at 900 px wide)
CARD_WIDTH = 42  # characters per line of the card's note: the slot is ~180 px wide at 72 dpi
NO_ROOFLINE = "no roofline columns in these rows\n(measured before the roofline)"


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
        if ax.get_yscale() != "linear":  # only the roofline is log-log; a scale change rebuilds the ticks
            ax.set_yscale("linear")
        ax.relim()
        ax.set_autoscale_on(True)
    if fig._suptitle is not None:
        fig._suptitle.set_text("")


def dashboard_figure(df, current=None, *, figsize=(12.5, 6.6), dpi: float = 72, title: str | None = None,
                     max_legend: int = 8, fig: Figure | None = None) -> Figure:
    """The dashboard's seven panels and card on one Figure (no pyplot; safe to build in a worker thread):
    latency (ms), throughput (samples/s), peak memory (MiB) and energy per sample (mJ) against batch
    size; quality against latency and against energy (at one batch size, Pareto front drawn); the
    roofline (GFLOP/s against FLOP/byte, every row); a card with the current selection's energy,
    carbon (g CO2e per 1k samples), cost (USD per 1M samples) and roofline fraction.
    ``current``: config_id(s) of the selection shown now (highlighted everywhere).
    ``fig``: a Figure an earlier call returned, redrawn in place (about 4x faster than a new one)."""
    df = pd.DataFrame() if df is None else df
    if fig is not None and len(fig.axes) == PANELS:
        _clear(fig)
        axes = list(fig.axes)
    else:
        fig, axes = _new_figure(figsize, dpi)
    fig.subplots_adjust(left=0.055, right=0.99, bottom=0.09, top=0.83 if title else 0.87, wspace=0.42,
                        hspace=0.38)
    ok = ok_rows(df)
    keys = series(ok) if len(ok) else pd.Series(dtype=object)
    named = ok.assign(_series=keys) if len(ok) else ok
    colour_of = colours(keys)
    kwargs = dict(hue="_series", current=current, legend=False, colour_of=colour_of)
    latency_vs_batch(named, axes[LATENCY], **kwargs)
    throughput_vs_batch(named, axes[THROUGHPUT], **kwargs)
    memory_vs_batch(named, axes[MEMORY], **kwargs)
    energy_vs_batch(named, axes[ENERGY], **kwargs)
    at = tradeoff_batch(ok, current)
    comparable = named[named["batch_size"] == at] if at is not None else named
    tradeoff(comparable, "latency_ms_p50", current=current, ax=axes[VS_LATENCY], hue="_series",
             colour_of=colour_of)
    tradeoff(comparable, "energy_mj_per_sample", current=current, ax=axes[VS_ENERGY], hue="_series",
             colour_of=colour_of)
    if at is not None:
        for ax in (axes[VS_LATENCY], axes[VS_ENERGY]):
            ax.set_title(f"at batch size {at}", fontsize="small", loc="right")
    _roofline_panel(named, axes[ROOFLINE], current, colour_of)
    _card(fig, ok, current, at)
    _figure_legend(fig, axes, ok, keys, current, max_legend, title)
    if title:
        fig.suptitle(title, y=0.995, fontsize="medium")
    return fig


def _new_figure(figsize, dpi) -> tuple[Figure, list]:
    """A Figure with the seven panels of a 2 x 4 grid; the grid's last slot is left for the card."""
    fig = Figure(figsize=figsize, dpi=dpi)
    grid = fig.subplots(*GRID)
    fig.delaxes(grid[-1, -1])
    return fig, list(fig.axes)


def roofline_rows(ok: pd.DataFrame) -> pd.DataFrame:
    """The rows the roofline panel can place: positive arithmetic intensity and achieved GFLOP/s
    (what lab.plots.roofline keeps; rows stored before the roofline columns have neither)."""
    if len(ok) == 0:
        return ok
    return ok[(column(ok, "arithmetic_intensity") > 0) & (column(ok, "achieved_gflops") > 0)]  # NaN: False


def _roofline_panel(named, ax, current, colour_of) -> None:
    """The roofline of every measured row (all batch sizes: intensity grows with the batch)."""
    roofline(named, ax, hue="_series", current=current, colour_of=colour_of, legend=False)
    ax.set_title("all batch sizes", fontsize="small", loc="right")
    if len(named) and not len(roofline_rows(named)):
        for text in ax.texts:  # plots.roofline's empty state: say why there are no points
            text.set_text(NO_ROOFLINE)


def _figure_legend(fig, axes, ok, keys, current, max_legend: int, title) -> None:
    """One legend for the figure, made of proxies in the plain style: it names the newest
    ``max_legend`` series and does not depend on the highlight, so a toggle back leaves it (and
    the static layer it is part of) unchanged; the caption above names the current series."""
    from matplotlib.lines import Line2D

    handles, labels = axes[LATENCY].get_legend_handles_labels()
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
    colour = next((line.get_color() for line in axes[LATENCY].lines
                   if names and line.get_gid() == SERIES_GID + str(names[0])), "black")
    caption.set_text("current: " + " | ".join(map(str, names)) if names else "")
    caption.set_color(colour)


def _card(fig: Figure, ok, current, at) -> None:
    """The card in the grid's last slot: the current selection at the trade-off batch size ``at``.

    Numbers (data layer, right-aligned) beside their units (static layer, left-aligned), so a toggle
    back redraws a few dozen glyphs, not the whole card; a note in small grey text under them says
    where the energy, carbon intensity and price came from (static: the same for a session on one device)."""
    texts = {t.get_gid(): t for t in fig.texts if t.get_gid() in CARD_GIDS}
    if not texts:
        texts = {CARD_GID: fig.text(0, 0, "", ha="right", va="top", fontsize="small", linespacing=1.6,
                                    gid=CARD_GID),
                 CARD_UNITS_GID: fig.text(0, 0, "", ha="left", va="top", fontsize="small", linespacing=1.6,
                                          gid=CARD_UNITS_GID),
                 CARD_NOTE_GID: fig.text(0, 0, "", ha="left", va="bottom", fontsize="x-small", color="0.4",
                                         gid=CARD_NOTE_GID)}
    slot = fig.axes[0].get_subplotspec().get_gridspec()[-1, -1].get_position(fig)  # follows subplots_adjust
    left = slot.x0 - 0.015  # the slot's own frame is empty: use the wspace to its left too
    texts[CARD_GID].set_position((left + CARD_NUMBERS_W, slot.y1))
    texts[CARD_UNITS_GID].set_position((left + CARD_NUMBERS_W + 0.006, slot.y1))
    texts[CARD_NOTE_GID].set_position((left, slot.y0 - 0.01))
    row = card_row(ok, current, at)
    numbers, units = zip(*card_lines(row))
    texts[CARD_GID].set_text("\n".join(numbers))
    texts[CARD_UNITS_GID].set_text("\n".join(units))
    texts[CARD_NOTE_GID].set_text(card_note(row))


def card_row(ok, current, at) -> pd.Series | None:
    """The current selection's row at batch size ``at`` (else its first row); None without one."""
    ids = current_ids(current)
    if not ids or len(ok) == 0 or "config_id" not in ok:
        return None
    mine = ok[ok["config_id"].isin(ids)]
    if len(mine) == 0:
        return None
    at_batch = mine[column(mine, "batch_size") == at] if at is not None else mine.iloc[0:0]
    return (at_batch if len(at_batch) else mine).iloc[0]


def _value(row, name: str) -> float | None:
    """Column ``name`` of ``row`` as a finite float; None where missing (old rows lack the new columns)."""
    return finite(row.get(name)) if row is not None else None


def _text(row, name: str) -> str:
    """Column ``name`` of ``row`` as text; '' where missing."""
    value = row.get(name) if row is not None else None
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def card_lines(row) -> list[tuple[str, str]]:
    """(number, unit) lines: batch size, energy (mJ per sample), g CO2e per 1k samples, USD per 1M
    samples, roofline fraction (% of the attainable rate) and bound; '–' where the row lacks a column
    (rows stored before carbon, cost and the roofline)."""
    if row is None:
        return [("", "current selection: no point yet")]

    def number(name, fmt="{:.3g}"):
        value = _value(row, name)
        return fmt.format(value) if value is not None else "–"
    batch = _value(row, "batch_size")
    return [("", "current selection"),
            (f"{batch:g}" if batch is not None else "–", "batch size (samples)"),
            (number("energy_mj_per_sample"), f"mJ / sample, {_text(row, 'energy_source') or 'source unknown'}"),
            (number("co2_g_per_1k"), "g CO2e / 1k samples"),
            (number("cost_usd_per_1m"), "USD / 1M samples"),
            (number("roofline_frac", "{:.0%}"), "of the roofline's attainable"),
            (_text(row, "bound") or "–", "bound")]


def card_note(row) -> str:
    """What the energy estimate assumed (its head: '10 W per busy core'; the table has it all) and
    where the carbon intensity and the price came from, wrapped to the card's width."""
    lines = []
    assumption = _text(row, "energy_assumption")
    if assumption:
        head = re.split(r"[:;(]", assumption)[0].strip()
        lines.append(f"energy: {_text(row, 'energy_source') or 'estimate'}, {head}")
    for label, name, unit, where in (("grid", "carbon_g_per_kwh", "g/kWh", "carbon_region"),
                                     ("price", "price_usd_per_hour", "USD/h", "price_instance")):
        value = _value(row, name)
        if value is not None:  # the number first: a wrap then breaks inside the source, not the unit
            lines.append(f"{label} {value:.3g} {unit}" + (f", {_text(row, where)}" if _text(row, where) else ""))
    return "\n".join(textwrap.fill(line, CARD_WIDTH, subsequent_indent="  ") for line in lines)
