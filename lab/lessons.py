"""Small helpers the lesson notebooks (notebooks/01-07) share, and nothing else needs.

Two kinds, each kept out of the measuring core on purpose:

- **Deliberately naive timers** for the "wrong" half of 01_measuring_right
  (``naive_samples_ms``, ``loop_mean_ms``), so the notebook can show what they
  get wrong next to ``lab.measure.timing.time_calls``, which gets it right.
- **One-plot helpers** that ``lab.plots`` does not have (a latency histogram,
  the knee of a throughput curve, a sensitivity heatmap, a plain line plot):
  DataFrame in, matplotlib Axes out, imported lazily so the arithmetic stays
  importable without matplotlib; and a few **DataFrame helpers** (a speed-up
  over a baseline row, a row printer for sweeps, the columns a table has).

No ipywidgets here (``lab.widgets`` is the only module that imports them).
"""
from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import time
from typing import Callable

# --- 01: measuring right ---------------------------------------------------------------------------


def forward_fn(model: str, batch_size: int, device: str = "cpu") -> Callable[[], object]:
    """A *fresh* built-in model (trained weights, eval mode) and a real input batch of
    ``batch_size``, as one zero-argument call running a forward pass under
    ``torch.inference_mode()``. Fresh matters: its first calls are still cold."""
    import torch

    from lab.models import registry

    spec = registry.get(model)
    net = spec.build().eval().to(device)
    x = spec.make_input(batch_size)
    args = tuple(t.to(device) for t in (x if isinstance(x, (tuple, list)) else (x,)))

    def forward():
        with torch.inference_mode():
            return net(*args)
    return forward


def naive_samples_ms(fn: Callable[[], object], n: int, *, sync: Callable[[], object] | None = None,
                     clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """The naive way, on purpose: time ``n`` calls of ``fn`` one by one, in ms, starting
    with the very first (no warm-up), and with no GPU synchronisation unless ``sync``
    is given (then it is called before every clock read)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed: a whole number of calls from 1 up")
    samples = []
    for _ in range(n):
        if sync is not None:
            sync()
        start = clock()
        fn()
        if sync is not None:
            sync()
        samples.append((clock() - start) * 1e3)
    return samples


def loop_mean_ms(fn: Callable[[], object], n: int, *, clock: Callable[[], float] = time.perf_counter) -> float:
    """The most common way, also on purpose: one clock around a loop of ``n`` cold calls,
    divided by ``n``. One number: no spread, no tail, warm-up folded in."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed: a whole number of calls from 1 up")
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) * 1e3 / n


def benchmark_timer_ms(fn: Callable[[], object], *, num_threads: int = 1, min_run_time: float = 0.2) -> float:
    """Median ms per call from ``torch.utils.benchmark.Timer(...).blocked_autorange()``.

    ``num_threads`` defaults to 1 *because Timer's does*: Timer runs the statement
    with one thread unless told otherwise, whatever torch.get_num_threads() says.
    Comparing it with a timer that used every core compares two different things."""
    from torch.utils import benchmark

    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


@contextlib.contextmanager
def background_load(processes: int = 1):
    """Run the block while ``processes`` other programs keep a core busy each (a
    Python busy loop), as a browser, a build or another user's job would. The
    processes are killed when the block ends, also on error."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 0:
        raise ValueError(f"processes={processes!r} is not allowed: a whole number from 0 up")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(processes)]
    try:
        time.sleep(0.05 if hogs else 0)  # let them get going
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def latency_histogram(samples_ms, ax=None, bins: int = 40, label: str = ""):
    """Histogram of raw per-call latencies with the mean, p50 and p99 marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    samples = np.asarray(samples_ms, dtype=float)
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    ax.hist(samples, bins=bins, color="0.75", edgecolor="0.5")
    p50, p99 = np.percentile(samples, [50, 99])
    for value, name, style in ((p50, "p50", "-"), (samples.mean(), "mean", "--"), (p99, "p99", ":")):
        ax.axvline(value, color="black", linestyle=style, label=f"{name} = {value:.3g} ms")
    ax.set_xlabel("latency of one call (ms)")
    ax.set_ylabel("calls")
    if label:
        ax.set_title(label)
    ax.legend(frameon=False)
    return ax


# --- 02: batch size --------------------------------------------------------------------------------


def _ok(df):
    return df[df["error"].isna()] if "error" in df else df


def knee(df, x: str = "batch_size", y: str = "throughput_sps", fraction: float = 0.9):
    """Where batching stops paying: the smallest ``x`` whose ``y`` already reaches
    ``fraction`` of the best ``y`` measured (rows with an error are ignored).
    None when there is nothing to go on."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} is not allowed: a fraction above 0, at most 1")
    rows = _ok(df).dropna(subset=[x, y])
    if rows.empty:
        return None
    best = rows[y].max()
    return rows.loc[rows[y] >= fraction * best, x].min().item()


def mark_knees(df, ax, hue: str | None = None, x: str = "batch_size", y: str = "throughput_sps",
               fraction: float = 0.9) -> dict:
    """Mark ``knee`` (per ``hue`` value) on a plot of ``y`` against ``x`` with a black star; return them."""
    groups = _ok(df).groupby(hue, sort=False) if hue else [(None, _ok(df))]
    knees = {}
    for key, rows in groups:
        at = knee(rows, x, y, fraction)
        if at is not None:
            knees[key] = at
            ax.plot(at, rows.loc[rows[x] == at, y].max(), marker="*", markersize=13, color="black", linestyle="none",
                    label=f"knee ({fraction:.0%} of best)" if len(knees) == 1 else None, zorder=5)
    ax.legend(frameon=False, fontsize="small")
    return knees


def line(df, x: str, y: str, hue: str | None = None, ax=None, logx: bool = False, logy: bool = False):
    """One line of ``y`` against ``x`` per value of ``hue`` (error rows left out); axes named by column."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    rows = _ok(df).sort_values(x)
    groups = rows.groupby(hue, sort=False) if hue else [(None, rows)]
    for key, group in groups:
        ax.plot(group[x], group[y], marker="o", label=None if hue is None else f"{hue}={key}")
    if logx:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue:
        ax.legend(frameon=False, fontsize="small")
    return ax


# --- DataFrame helpers (every notebook) -----------------------------------------------------------


def row_printer(*columns: str) -> Callable[[dict], None]:
    """An ``on_row`` for ``lab.sweep`` printing one line per row as it arrives: the named
    columns (floats to 4 significant digits), then its error or "(from the store)"."""
    def show(row: dict) -> None:
        parts = [f"{c}={row[c]:.4g}" if isinstance(row.get(c), float) else f"{c}={row.get(c)}" for c in columns
                 if not (row.get("error") and c not in row)]
        note = f"  error: {row['error']}" if row.get("error") else ("  (from the store)" if row.get("from_store") else "")
        print("  ".join(parts) + note, flush=True)
    return show


def ratio_to(df, knob: str, value, column: str = "latency_ms_p50", by=("model", "batch_size")):
    """For each row: ``column`` of the baseline row (``knob == value``, same ``by`` values) divided
    by the row's own. For a latency that is the speed-up over the baseline (2.0 = twice as fast);
    NaN where the row failed or has no baseline."""
    import pandas as pd

    by = list(by)
    ok = _ok(df)
    base = ok[ok[knob] == value].groupby(by)[column].first()
    keys = pd.MultiIndex.from_frame(df[by])
    ratio = pd.Series(base.reindex(keys).to_numpy(), index=df.index) / df[column].astype(float)
    return ratio.where(df["error"].isna() if "error" in df else True)


def cpu_features(path: str = "/proc/cpuinfo") -> list[str]:
    """Which of the CPU instruction sets that decide low-precision speed this CPU has (Linux;
    empty elsewhere): AVX2, AVX-512, VNNI (int8 dot products), AVX512-BF16, AMX (matrix tiles)."""
    wanted = ("avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "avx512_fp16",
              "amx_bf16", "amx_int8", "amx_fp16")
    try:
        with open(path) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    return [w for w in wanted if w in flags]


def table(df, columns):
    """``df[columns]`` for the columns it has (a sweep where every row failed has no latency columns)."""
    return df[[c for c in columns if c in df]]


# --- 03: pruning -----------------------------------------------------------------------------------


def from_dense(df):
    """For curves against sparsity: the unpruned rows (``prune_method`` 'none') copied once per
    pruning method in ``df``, so every method's line starts from the dense model at sparsity 0."""
    import pandas as pd

    dense = df[df["prune_method"] == "none"]
    methods = [m for m in dict.fromkeys(df["prune_method"]) if m != "none"]
    return pd.concat([*(dense.assign(prune_method=m) for m in methods), df[df["prune_method"] != "none"]],
                     ignore_index=True)


def sensitivity_heatmap(scan, ax=None):
    """``lab.sensitivity_scan``'s DataFrame as a heatmap: a row per layer (its weight count
    in the label), a column per sparsity, the accuracy in each cell."""
    import matplotlib.pyplot as plt

    grid = scan.pivot_table(index="layer", columns="sparsity", values="accuracy", sort=False)
    params = scan.groupby("layer", sort=False)["params"].first()
    ax = ax or plt.subplots(figsize=(1.2 + 0.6 * grid.shape[1], 0.9 + 0.45 * grid.shape[0]))[1]
    image = ax.imshow(grid.values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (i, j), value in _cells(grid.values):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="white" if value < 0.6 else "black")
    ax.set_xticks(range(grid.shape[1]), [f"{s:g}" for s in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{name} ({params[name]:,})" for name in grid.index])
    ax.set_xlabel("sparsity of this one layer")
    ax.figure.colorbar(image, ax=ax, label="accuracy")
    return ax


def _cells(values):
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if not math.isnan(value):
                yield (i, j), value


# --- 07: trade-offs ---------------------------------------------------------------------------------


def annotate(ax, df, x: str, y: str, label: str):
    """Write each row's ``label`` next to its (x, y) point (error rows left out)."""
    for _, row in _ok(df).dropna(subset=[x, y]).iterrows():
        ax.annotate(str(row[label]), (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    return ax


def colour_legend(ax, colour_of: dict, **kwargs):
    """A legend saying what each point colour means (``{key: colour}``, e.g. ``plots.colours(...)``),
    after whatever the axes already label."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", linestyle="none", color=c) for c in colour_of.values()]
    ax.legend(handles, labels + [str(k) for k in colour_of], frameon=False, **kwargs)
    return ax
