"""DataFrame in, matplotlib Axes out. No measuring here: plots read rows."""
from __future__ import annotations

import matplotlib.pyplot as plt


def latency_vs_batch(df, ax=None, hue: str = "quant"):
    """Median latency per batch (ms, line) with the p90-p99 band, one line per ``hue`` value."""
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    ok = df[df["error"].isna()] if "error" in df else df
    for key, group in ok.sort_values("batch_size").groupby(hue, sort=False):
        line, = ax.plot(group["batch_size"], group["latency_ms_p50"], marker="o", label=f"{hue}={key}")
        ax.fill_between(group["batch_size"], group["latency_ms_p90"], group["latency_ms_p99"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel("latency per batch, p50 (ms)")
    ax.legend(frameon=False)
    return ax


def throughput_vs_batch(df, ax=None, hue: str = "quant"):
    """Throughput (samples/s) per batch size, one line per ``hue`` value."""
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    ok = df[df["error"].isna()] if "error" in df else df
    for key, group in ok.sort_values("batch_size").groupby(hue, sort=False):
        ax.plot(group["batch_size"], group["throughput_sps"], marker="o", label=f"{hue}={key}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel("throughput (samples/s)")
    ax.legend(frameon=False)
    return ax
