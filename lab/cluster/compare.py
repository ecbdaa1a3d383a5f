"""The same grid on every node: one comparison table and one figure, DataFrame in.

    table = comparison(df)          # one line per configuration x device, the fastest device = 1.0x
    print_comparison(df, out)       # what ``python -m lab run ... --device all`` prints
    fig = comparison_figure(df)     # latency, energy, cost, roofline fraction: bars per device

Rows with an ``error`` are left out of the figure and shown as such in the table.
"""
from __future__ import annotations

import pandas as pd

from lab import plots
from lab.cli_output import TablePrinter

# (column, axis label with its unit); energy's label names its source (lab.plots.energy_label).
METRICS = (("latency_ms_p50", "latency per batch, p50 (ms)"),
           ("energy_mj_per_sample", None),
           ("cost_usd_per_1m", "cost per million inferences (USD)"),
           ("roofline_frac", "fraction of the device's measured roofline"))


def _configuration(row) -> str:
    """The configuration without its device: what the devices are compared on."""
    parts = [str(row["model"]), f"batch {int(row['batch_size'])}", str(row["quant"])]
    if row.get("prune_method", "none") not in ("none", None):
        parts.append(f"{row['prune_method']} {float(row['sparsity']):g}")
    if row.get("compile") is True:
        parts.append("compiled")
    return " · ".join(parts)


def comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration x device: the four metrics, the device's name, energy source,
    and ``latency_vs_fastest`` (1.0 for the fastest device of that configuration)."""
    if df.empty:
        return pd.DataFrame(columns=["configuration", "device"])
    out = df.copy()
    for column, _ in METRICS:
        if column not in out:
            out[column] = float("nan")
    for column in ("error", "device_name", "energy_source", "contended"):
        if column not in out:
            out[column] = None
    out["configuration"] = out.apply(_configuration, axis=1)
    ok = out["error"].isna()
    fastest = out[ok].groupby("configuration")["latency_ms_p50"].min()
    out["latency_vs_fastest"] = out["latency_ms_p50"] / out["configuration"].map(fastest)
    cols = ["configuration", "device", "device_name", *(c for c, _ in METRICS), "energy_source",
            "latency_vs_fastest", "contended", "error"]
    return out[cols].sort_values(["configuration", "device"], kind="stable").reset_index(drop=True)


def print_comparison(df: pd.DataFrame, out) -> None:
    """The comparison table, fixed width, on ``out``."""
    table = comparison(df)
    rows = table.to_dict("records")
    print("\ncomparison across devices (latency_vs_fastest: 1 = the fastest device for that configuration)",
          file=out)
    printer = TablePrinter(list(table.columns), out, rows)
    for row in rows:
        printer(row)


def comparison_figure(df: pd.DataFrame, fig=None):
    """Four panels (latency, energy per sample, cost per million, roofline fraction), one bar per
    device in each configuration's group; a Figure (pyplot-free: any thread, any backend)."""
    import numpy as np
    from matplotlib.figure import Figure

    table = comparison(df)
    ok = table[table["error"].isna()]
    fig = fig or Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    configurations = list(dict.fromkeys(ok["configuration"]))
    devices = list(dict.fromkeys(ok["device"]))
    colours = plots.palette()
    width = 0.8 / max(1, len(devices))
    xs = np.arange(len(configurations))
    for ax, (column, label) in zip(axes, METRICS):
        for i, device in enumerate(devices):
            values = ok[ok["device"] == device].set_index("configuration")[column].reindex(configurations)
            ax.bar(xs + (i - (len(devices) - 1) / 2) * width, values.to_numpy(dtype=float), width,
                   label=device, color=colours[i % len(colours)])
        ax.set_ylabel(plots.energy_label(df) if label is None else label)
        ax.set_xticks(xs, configurations, rotation=20, ha="right", fontsize=8)
    axes[0].legend(title="device", fontsize=8)
    return fig
