"""Figures of loader rows (DataFrame in, axes out), with the vocabulary's labels and units.

    fig, (left, right) = plt.subplots(1, 2)
    lab.data.plots.rates(df, "num_workers", ax=left); lab.data.plots.stall(df, "num_workers", ax=right)
"""
from __future__ import annotations

from lab.data.config import KNOBS
from lab.plots import ok_rows

LABELS = {
    "loader_sps": "loader alone (samples/s)",
    "model_sps": "model alone (samples/s)",
    "pipeline_sps": "the two together (samples/s)",
    "stall_frac": "stall fraction: share of the loop waiting for data (0-1)",
    "cpu_util_frac": "CPU use of the process and its workers (share of all cores, 0-1)",
    "cpu_ms_per_sample": "CPU time per sample (ms)",
    "startup_s": "start-up: iterator to first batch (s)",
    "energy_mj_per_sample": "energy per sample (mJ)",
}
RATE_COLUMNS = ("loader_sps", "model_sps", "pipeline_sps")
THROUGHPUT_LABEL = "throughput (samples/s)"  # the y axis of the three rates (lab.dashboard draws it too)


def label(column: str) -> str:
    """The axis label of a loader column or knob, with its unit."""
    return LABELS.get(column) or (KNOBS[column].label if column in KNOBS else column)


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def rates(df, x: str, ax=None):
    """Samples per second of the loader alone, the model alone and the two together, against knob ``x``
    (medians over repeats)."""
    ax = _axes(ax)
    ok = ok_rows(df)
    for column, style in zip(RATE_COLUMNS, ("o-", "s--", "D-")):
        if column in ok and ok[column].notna().any():
            series = ok.groupby(x)[column].median()
            ax.plot([str(v) for v in series.index], series.to_numpy(), style, label=label(column))
    ax.set(xlabel=label(x), ylabel=THROUGHPUT_LABEL, ylim=(0, None))
    ax.legend(frameon=False, fontsize="small")
    return ax


def bars(df, x: str, y: str, ax=None, color="tab:red"):
    """One bar per value of knob ``x``: the median of column ``y``."""
    ax = _axes(ax)
    series = ok_rows(df).groupby(x)[y].median()
    ax.bar([str(v) for v in series.index], series.to_numpy(), color=color)
    ax.set(xlabel=label(x), ylabel=label(y))
    if y.endswith("_frac"):
        ax.set_ylim(0, 1)
    return ax


def stall(df, x: str, ax=None):
    """The measured stall fraction against knob ``x``."""
    return bars(df, x, "stall_frac", ax=ax)
