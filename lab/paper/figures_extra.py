"""The paper's figures that are not drawn from one row per point: the pruning sensitivity scan and
the roofline (drawn by lab.plots.roofline, with its legend moved off the data).

    sensitivity_scan(sensitivity, fig, size="single")   quality vs sparsity, one line per layer, a panel per model
    roofline(df, ax, size="double")                     achieved GFLOP/s vs FLOP/byte under the roofs
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from lab import plots
from lab.paper import data, layout, order

SPARSITY_LABEL = "sparsity (fraction of weights removed)"
ROOFLINE_COLUMNS = ("arithmetic_intensity", "achieved_gflops", "peak_gflops", "bandwidth_gbs")
MAX_LEGEND_LAYERS = 16  # beyond this a layer legend is a wall of text: the sidecar's rows name them


def sensitivity_scan(sensitivity: dict, fig, *, quality: str | None = None, vertical: bool = False,
                     size: str | None = None) -> pd.DataFrame:
    """Per model a panel: quality after pruning one layer at a time against sparsity (fraction of
    weights removed), one line per layer (its own colour and marker). ``sensitivity``: model ->
    DataFrame(layer, sparsity, accuracy, ...). ``quality``: the y label (default:
    lab.plots.quality_label of the frame). size: 'single' (panels stacked) or 'double' (side by
    side); default 'single' when ``vertical``. Each panel's layer legend is right of it."""
    from lab.paper.style import palette

    size = size or ("single" if vertical else "double")
    models = [m for m in order.ordered("model", sensitivity) if not data.has_values(sensitivity[m], "sparsity",
                                                                                      "accuracy")]
    if not models:
        return pd.DataFrame()
    rows, cols = layout.grid(len(models), size)
    axes = list(np.ravel(fig.subplots(rows, cols, squeeze=False)))
    for spare in axes[len(models):]:
        fig.delaxes(spare)
    colours, drawn = palette(), []
    for ax, model in zip(axes, models):
        frame = sensitivity[model]
        layers = list(dict.fromkeys(frame["layer"].astype(str))) if "layer" in frame else ["all"]
        layer_of = frame["layer"].astype(str) if "layer" in frame else pd.Series("all", index=frame.index)
        for i, layer in enumerate(layers):
            part = frame[layer_of == layer].sort_values("sparsity")
            # colour i % 10 with marker i % 8: no two of the first 40 layers look alike
            ax.plot(plots.column(part, "sparsity"), plots.column(part, "accuracy"), markersize=2.5,
                    color=colours[i % len(colours)], marker=layout.MARKERS[i % len(layout.MARKERS)],
                    linestyle=layout.LINESTYLES[(i // len(colours)) % len(layout.LINESTYLES)], label=layer)
        ax.set_xlabel(SPARSITY_LABEL)
        ax.set_ylabel(quality or plots.quality_label(frame))
        ax.set_title(model, fontsize="small")
        if len(layers) <= MAX_LEGEND_LAYERS:
            ax.legend(title="layer", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                      ncol=2 if len(layers) > 8 else 1)
        drawn.append(frame.assign(model=model))
    return pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


def roofline(df: pd.DataFrame, ax, *, colour_of: dict | None = None, size: str | None = None) -> pd.DataFrame:
    """lab.plots.roofline (achieved GFLOP/s against arithmetic intensity in FLOP/byte, log-log, with the
    compute and bandwidth roofs) on the rows that carry all four roofline columns, schemes in display
    order; its legend (schemes by name, then the roofs) outside the plot: a figure legend placed for
    ``size``, or right of ``ax`` when size is None."""
    draw = getattr(plots, "roofline", None)
    if draw is None:
        raise ValueError("lab.plots.roofline is not available in this version of the lab")
    ok = data.ok_rows(df)
    for col in ROOFLINE_COLUMNS:
        ok = ok[plots.column(ok, col).notna()]
    # plots.roofline colours and lists schemes in first-seen order: give it the rows in display order.
    ok = order.sort_rows(ok, ["quant", "model", "prune_method", "sparsity", "batch_size"], keep_index=True)
    kwargs = {"ax": ax, "hue": "quant"}
    accepts = inspect.signature(draw).parameters
    if "colour_of" in accepts:
        kwargs["colour_of"] = colour_of if colour_of is not None else data.scheme_colours(ok)
    if "legend" in accepts:
        kwargs["legend"] = False
    draw(ok, **kwargs)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    roofs = [line for line in ax.get_lines() if line.get_gid() == getattr(plots, "ROOF_GID", None)]
    if len([r for r in roofs if r.get_linestyle() == "--"]) <= 1:
        for text in list(ax.texts):  # one compute roof: the legend names it; its label would squeeze the plot
            text.remove()
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in zip(handles, labels):
        handle.set_label(label.removeprefix("quant="))
    if size is None:
        layout.axes_legend(ax, handles)
    else:
        layout.legend(ax.figure, handles, size)
    return ok
