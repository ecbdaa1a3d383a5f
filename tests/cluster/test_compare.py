"""The comparison table and figure across devices, and the cluster benchmark's arithmetic (no cluster here)."""
from __future__ import annotations

import math

import pandas as pd

from helpers import load_benchmark
from lab.cluster.compare import comparison, comparison_figure, print_comparison


def _rows():
    base = {"model": "digits-cnn", "quant": "fp32", "prune_method": "none", "sparsity": 0.0, "compile": False,
            "energy_source": "estimate", "error": None}
    return pd.DataFrame([
        {**base, "batch_size": 1, "device": "box/cpu", "latency_ms_p50": 2.0, "energy_mj_per_sample": 4.0,
         "cost_usd_per_1m": 0.2, "roofline_frac": 0.1},
        {**base, "batch_size": 1, "device": "gpu/cuda:0", "latency_ms_p50": 0.5, "energy_mj_per_sample": 1.0,
         "cost_usd_per_1m": 0.4, "roofline_frac": 0.01},
        {**base, "batch_size": 8, "device": "box/cpu", "latency_ms_p50": 4.0, "energy_mj_per_sample": 2.0,
         "cost_usd_per_1m": 0.1, "roofline_frac": 0.2},
        {**base, "batch_size": 8, "device": "gpu/cuda:0", "latency_ms_p50": None, "energy_mj_per_sample": None,
         "cost_usd_per_1m": None, "roofline_frac": None, "error": "node gpu left the cluster"},
    ])


def test_comparison_puts_each_configuration_s_devices_side_by_side():
    table = comparison(_rows())
    assert list(table["configuration"].unique()) == ["digits-cnn · batch 1 · fp32", "digits-cnn · batch 8 · fp32"]
    b1 = table[table["configuration"] == "digits-cnn · batch 1 · fp32"].set_index("device")
    assert b1.loc["gpu/cuda:0", "latency_vs_fastest"] == 1.0 and b1.loc["box/cpu", "latency_vs_fastest"] == 4.0
    b8 = table[table["configuration"] == "digits-cnn · batch 8 · fp32"].set_index("device")
    assert b8.loc["box/cpu", "latency_vs_fastest"] == 1.0  # the failed device is not the fastest
    assert b8.loc["gpu/cuda:0", "error"] == "node gpu left the cluster"


def test_print_and_figure(capsys):
    import sys

    print_comparison(_rows(), sys.stdout)
    out = capsys.readouterr().out
    assert "latency_vs_fastest" in out and "node gpu left the cluster" in out and out.count("box/cpu") == 2
    fig = comparison_figure(_rows())
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["latency per batch, p50 (ms)", "energy per sample (mJ, estimate)",
                      "cost per million inferences (USD)", "fraction of the device's measured roofline"]
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert sorted(h for h in bars if not math.isnan(h)) == [0.5, 2.0, 4.0]  # the error row is not drawn


def test_benchmark_reports_medians_ratios_and_the_time_the_cluster_added(capsys):
    bench = load_benchmark("cluster")

    def row(ms, seconds=0.0, node_seconds=None):
        return {"latency_ms_p50": ms, "seconds": seconds, "node_seconds": node_seconds, "error": None,
                "contended": False}

    pairs = [{"config": "fp32 batch 1", "here": [row(1.0), row(1.2), row(0.8)],
              "there": [row(1.0, 1.5, 1.0), row(1.02, 0.53, 0.5), row(0.99, 0.52, 0.5)],
              "again": [row(1.0), row(1.0), row(1.0)]}]
    rows = bench.table(pairs)
    assert rows[0]["local_ms"] == 1.0 and rows[0]["cluster_ms"] == 1.0 and rows[0]["ratio"] == 1.0
    assert math.isclose(rows[0]["added_ms"], 25.0)  # median of 30 ms and 20 ms: the first (500 ms) is apart
    assert math.isclose(rows[0]["first_added_ms"], 500.0)
    assert bench.report(rows) is True
    assert "all targets met" in capsys.readouterr().out
    rows[0]["ratio"] = 1.2
    assert bench.report(rows) is False


def test_repeats_are_pooled_and_configurations_differing_in_threads_are_told_apart():
    # Before: both threads values shared the label "digits-cnn · batch 1 · fp32", and the figure's
    # reindex raised "cannot reindex on an axis with duplicate labels".
    base = {"model": "digits-cnn", "batch_size": 1, "quant": "fp32", "prune_method": "none", "sparsity": 0.0,
            "compile": False, "width": 1.0, "finetune_epochs": 0, "seed": 0, "energy_source": "estimate",
            "error": None, "energy_mj_per_sample": 1.0, "cost_usd_per_1m": 0.1, "roofline_frac": 0.1}
    rows = pd.DataFrame([
        {**base, "device": "box/cpu", "threads": 1, "latency_ms_p50": 3.0},
        {**base, "device": "box/cpu", "threads": 1, "latency_ms_p50": 5.0},
        {**base, "device": "box/cpu", "threads": 1, "latency_ms_p50": 4.0},
        {**base, "device": "box/cpu", "threads": 2, "latency_ms_p50": 2.0},
        {**base, "device": "box/cpu", "threads": 2, "latency_ms_p50": None, "error": "out of memory"},
        {**base, "device": "big/cpu", "threads": 1, "latency_ms_p50": 8.0},
        {**base, "device": "big/cpu", "threads": 2, "latency_ms_p50": 1.0},
    ])
    table = comparison(rows)
    assert len(table) == 4
    assert set(table["configuration"]) == {"digits-cnn · batch 1 · fp32 · threads 1",
                                           "digits-cnn · batch 1 · fp32 · threads 2"}
    cell = table.set_index(["configuration", "device"])
    one = cell.loc[("digits-cnn · batch 1 · fp32 · threads 1", "box/cpu")]
    assert one["latency_ms_p50"] == 4.0 and one["rows"] == 3 and one["latency_vs_fastest"] == 1.0
    two = cell.loc[("digits-cnn · batch 1 · fp32 · threads 2", "box/cpu")]
    assert two["latency_ms_p50"] == 2.0 and two["rows"] == 1 and two["error"] is None  # one repeat ran
    assert cell.loc[("digits-cnn · batch 1 · fp32 · threads 2", "big/cpu"), "latency_ms_p50"] == 1.0
    fig = comparison_figure(rows)
    assert sorted(p.get_height() for p in fig.axes[0].patches) == [1.0, 2.0, 4.0, 8.0]


def test_threads_each_node_resolved_for_itself_do_not_split_a_configuration():
    # Left unset, each node records its own core count: the devices are still compared side by side.
    rows = _rows()
    rows["threads"] = [8, 16, 8, 16]
    table = comparison(rows)
    assert list(table["configuration"].unique()) == ["digits-cnn · batch 1 · fp32", "digits-cnn · batch 8 · fp32"]
    assert len(table) == 4


def test_a_configuration_that_failed_on_every_repeat_shows_its_error():
    rows = pd.concat([_rows(), _rows()], ignore_index=True)
    table = comparison(rows).set_index(["configuration", "device"])
    assert len(table) == 4 and (table["rows"] == [2, 2, 2, 0]).all()
    assert table.loc[("digits-cnn · batch 8 · fp32", "gpu/cuda:0"), "error"] == "node gpu left the cluster"


def test_benchmark_reports_a_configuration_that_failed_on_every_side(capsys):
    # Before: report() raised on None added_ms ("unsupported format string") and on min() of no ratios.
    bench = load_benchmark("cluster")
    failed = {"latency_ms_p50": None, "seconds": 0.1, "error": "unsupported: bf16", "contended": False}
    pairs = [{"config": "bf16 batch 1", "here": [failed], "there": [failed], "again": [failed]}]
    rows = bench.table(pairs)
    assert rows[0]["error"] == "unsupported: bf16" and rows[0]["ratio"] is None and rows[0]["added_ms"] is None
    assert bench.report(rows) is False
    out = capsys.readouterr().out
    assert "MISSED; error: unsupported: bf16" in out and "latency ratio cluster/local: none" in out
    assert "added wall time per configuration: none measured" in out


def test_benchmark_counts_a_failed_control_as_a_failed_configuration():
    bench = load_benchmark("cluster")
    ok = {"latency_ms_p50": 1.0, "seconds": 0.5, "node_seconds": 0.49, "error": None, "contended": False}
    pairs = [{"config": "fp32 batch 1", "here": [ok], "there": [ok],
              "again": [{**ok, "latency_ms_p50": None, "error": "out of memory"}]}]
    rows = bench.table(pairs)
    assert rows[0]["error"] == "out of memory" and rows[0]["ratio"] is None
