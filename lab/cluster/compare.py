"""The same grid on every node: one comparison table and one figure, DataFrame in.

    table = comparison(df)          # one line per configuration x device, the fastest device = 1.0x
    print_comparison(df, out)       # what ``python -m lab run ... --device all`` prints
    fig = comparison_figure(df)     # latency, energy, cost, roofline fraction: bars per device

A configuration is every knob but the device (lab.config.KNOBS); repeats of one configuration on
one device are pooled into their median. Rows with an ``error`` are left out of the medians and the
figure; a configuration x device with no row that ran is shown in the table with its error.
"""
from __future__ import annotations

import pandas as pd

from lab import plots
from lab.cli_output import TablePrinter
from lab.config import KNOBS

# (column, axis label with its unit); energy's label names its source (lab.plots.energy_label).
METRICS = (("latency_ms_p50", "latency per batch, p50 (ms)"),
           ("energy_mj_per_sample", None),
           ("cost_usd_per_1m", "cost per million inferences (USD)"),
           ("roofline_frac", "fraction of the device's measured roofline"))

# What the devices are compared on: every knob but the device.
_KEY = tuple(name for name in KNOBS if name != "device")
# Named in every label; the other knobs of _KEY are named only where they vary across the rows.
_ALWAYS_NAMED = ("model", "batch_size", "quant", "prune_method", "sparsity", "compile")


def _value(row, name):
    """The knob's value in ``row``, one spelling per value: None for missing/NaN, 8 for 8.0 in a
    float column, True/False for a boolean knob stored as 1/0 or 'True'/'False'."""
    value = row.get(name)
    if value is None or (not isinstance(value, str) and value != value):  # value != value: NaN
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    kind = KNOBS[name].kind
    if kind is bool and value in (True, False, "True", "true", "False", "false"):  # 1 == True, 0 == False
        return value in (True, "True", "true")
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _keyed(table: pd.DataFrame) -> tuple[str, ...]:
    """The knobs that tell configurations apart. ``threads`` only where it takes more than one value
    on one device: left unset, each node records its own core count (lab/cluster/tasks.py), which
    says which device it was, not which configuration."""
    keyed = []
    for name in _KEY:
        if name == "threads":
            per_device = table.groupby("device", dropna=False)["threads"].nunique(dropna=False)
            if not (per_device > 1).any():
                continue
        keyed.append(name)
    return tuple(keyed)


def _label(values: dict, named: tuple[str, ...]) -> str:
    """The configuration in words: model, batch, scheme, pruning, compile, then the ``named`` knobs."""
    parts = [str(values["model"]), f"batch {values['batch_size']}", str(values["quant"])]
    if values["prune_method"] not in ("none", None):
        parts.append(f"{values['prune_method']} {float(values['sparsity'] or 0):g}")
    if values["compile"] is True:
        parts.append("compiled")
    elif isinstance(values["compile"], str):  # a compile mode: a stored compile may hold one (lab.store.parquet_safe)
        parts.append(f"compiled {values['compile']}")
    for name in named:
        value = values[name]
        shown = "default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"+{shown} ep" if name == "finetune_epochs" else f"{KNOBS[name].label} {shown}")
    return " · ".join(parts)


def comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration x device: the four metrics (median over the repeats that ran), the
    device's name, energy source, ``rows`` (how many repeats the medians pool), ``contended`` (any of
    them), ``error`` (set only when none ran) and ``latency_vs_fastest`` (1.0 for the fastest device
    of that configuration)."""
    if df.empty:
        return pd.DataFrame(columns=["configuration", "device"])
    out = df.copy().reset_index(drop=True)
    for column, _ in METRICS:
        if column not in out:
            out[column] = float("nan")
    for column in ("error", "device_name", "energy_source", "contended", *_KEY):
        if column not in out:
            out[column] = None
    knobs = pd.DataFrame([{name: _value(row, name) for name in _KEY} for row in out.to_dict("records")],
                         index=out.index)
    out[list(_KEY)] = knobs.astype(object)
    keyed = _keyed(out)
    varying = tuple(name for name in keyed
                    if name not in _ALWAYS_NAMED and len(set(out[name])) > 1)  # None counts as a value
    out["configuration"] = [_label(values, varying) for values in out[list(_KEY)].to_dict("records")]
    out["_ok"] = out["error"].isna()
    lines = []
    for (configuration, device), group in out.groupby(["configuration", "device"], sort=False, dropna=False):
        ran = group[group["_ok"]]
        first = (ran if len(ran) else group).iloc[0]
        line = {"configuration": configuration, "device": device, "device_name": first["device_name"],
                **{column: ran[column].astype(float).median() if len(ran) else float("nan")
                   for column, _ in METRICS},
                "energy_source": first["energy_source"], "rows": len(ran),
                "contended": bool(ran["contended"].fillna(False).astype(bool).any()) if len(ran) else None,
                "error": None if len(ran) else first["error"]}
        lines.append(line)
    table = pd.DataFrame(lines)
    fastest = table[table["error"].isna()].groupby("configuration")["latency_ms_p50"].min()
    table["latency_vs_fastest"] = table["latency_ms_p50"] / table["configuration"].map(fastest)
    cols = ["configuration", "device", "device_name", *(c for c, _ in METRICS), "energy_source",
            "latency_vs_fastest", "rows", "contended", "error"]
    return table[cols].sort_values(["configuration", "device"], kind="stable").reset_index(drop=True)


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
            # comparison() pooled the repeats: one line per configuration x device, so a unique index.
            values = ok[ok["device"] == device].set_index("configuration")[column].reindex(configurations)
            ax.bar(xs + (i - (len(devices) - 1) / 2) * width, values.to_numpy(dtype=float), width,
                   label=device, color=colours[i % len(colours)])
        ax.set_ylabel(plots.energy_label(df) if label is None else label)
        ax.set_xticks(xs, configurations, rotation=20, ha="right", fontsize=8)
    axes[0].legend(title="device", fontsize=8)
    return fig
