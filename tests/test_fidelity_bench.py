"""benchmarks/fidelity.py runs end to end in its quick mode and writes sound JSON.

No wall-clock targets are asserted: on a shared machine they belong in the
benchmark's printed report, not in a test that must pass every time."""
import argparse
import io
import json
import math
import statistics
import subprocess
import sys
import types
from pathlib import Path

import pytest

from helpers import load_benchmark
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fidelity.py"


def test_quick_run_writes_ratios(tmp_path):
    out = tmp_path / "fidelity.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--models", "digits-mlp", "--batches", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "lab means within 0.97-1.03 of both references" in proc.stdout
    assert "lab/Timer" in proc.stdout and "lab/block" in proc.stdout and "skew" in proc.stdout
    assert "measuring digits-mlp batch 1" in proc.stderr  # progress goes to stderr

    result = json.loads(out.read_text())
    [case] = result["cases"]
    assert (case["model"], case["batch"]) == ("digits-mlp", 1)
    assert case["threads"] >= 1 and case["rounds"] >= 1
    for key in ("lab_p50_ms", "torch_median_ms", "ratio", "lab_mean_ms", "torch_mean_ms", "block_mean_ms",
                "mean_ratio_torch", "mean_ratio_block", "skew"):
        assert math.isfinite(case[key]) and case[key] > 0, key
    assert case["block_calls"] >= 1 and all(len(r["block_ms"]) == case["block_repeats"] for r in case["all_rounds"])
    # The ratio is lab/torch within each round, then the median over the rounds used.
    used = [r for r in case["all_rounds"] if r["quiet"]] or case["all_rounds"]
    assert len(used) == case["rounds"]
    assert case["ratio"] == statistics.median(r["lab_p50_ms"] / r["torch_median_ms"] for r in used)
    assert case["ratio_of_medians"] == case["lab_p50_ms"] / case["torch_median_ms"]
    assert math.isfinite(result["overhead_us"]) and result["overhead_us"] > 0
    assert result["clock_read_ns"] > 0 and math.isfinite(result["harness_ns_per_sample"])
    # The lab, Timer and the block loop all ran under inference_mode with the threads asked for.
    assert set(result["threads_seen"]) == {"lab", "Timer", "block"}
    assert all(seen == [True, case["threads"]] for seen in result["threads_seen"].values())
    assert result["environment"]["torch_version"]


def test_unknown_model_is_one_clear_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--models", "no-such-model"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--models='no-such-model' is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def fidelity():
    return load_benchmark("fidelity")


def test_means_of_the_three_tools_side_by_side_with_a_fake(fidelity, monkeypatch):
    # No real timing: the lab's samples are 1 ms x 9 and 3 ms (mean 1.2, p50 1.0, skew 1.2);
    # Timer's blocks average 1.25 ms; the block loop reads 1.2 ms then 1.2 ms.
    samples = (1.0,) * 9 + (3.0,)
    lab = types.SimpleNamespace(p50=1.0, mean=1.2, n=10, samples_ms=samples)
    timer = types.SimpleNamespace(median=1.25e-3, mean=1.25e-3, raw_times=[2.5e-3] * 4, number_per_run=2)
    calls = []
    monkeypatch.setattr(fidelity, "lab_timing", lambda fn, policy, threads: lab)
    monkeypatch.setattr(fidelity, "torch_timing", lambda stmt, env, threads, run_time: timer)

    def fake_block(fn, n, repeats, threads):
        calls.append((n, repeats, threads))
        return [1.2] * repeats

    monkeypatch.setattr(fidelity, "block_timing", fake_block)
    monkeypatch.setattr(fidelity, "wait_for_quiet", lambda s: None)
    args = argparse.Namespace(threads=1, rounds=3, max_wait=0.0, max_case_s=60.0, quick=False)
    policy = fidelity.TimingPolicy()
    case = fidelity.measure_case(torch.nn.Identity(), torch.zeros(1), args, policy, 0.5)

    assert (case["lab_mean_ms"], case["torch_mean_ms"], case["block_mean_ms"]) == (1.2, 1.25, 1.2)
    assert case["mean_ratio_torch"] == pytest.approx(0.96) and case["mean_ratio_block"] == pytest.approx(1.0)
    assert case["skew"] == pytest.approx(1.2) and case["lab_p50_ms"] == 1.0
    assert case["ratio"] == pytest.approx(0.8)  # last week's statistic, p50 / Timer median: ~ lab/Timer / skew
    # N back-to-back calls lasting >= 0.2 s at the lab's mean of 1.2 ms: 167 calls, 3 blocks, same threads.
    assert calls == [(167, 3, 1)] * 3 and len(case["all_rounds"]) == 3
    # Every round has all three tools, whatever the rotating order.
    assert all({"lab_mean_ms", "torch_mean_ms", "block_mean_ms"} <= set(r) for r in case["all_rounds"])

    case.update(model="fake", batch=1, threads=1, error=None)
    overhead = {"overhead_us": 0.06, "torch_pass_us": 0.01, "lab_empty_mean_ns": 110.0, "block_empty_ns": 30.0,
                "clock_read_ns": 50.0, "harness_ns_per_sample": 80.0}
    out = io.StringIO()
    fidelity.print_report([case, {"model": "broken", "batch": 1, "threads": 1, "error": "ValueError: x"}],
                          overhead, quick=False, out=out)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("fake"))
    assert row.split()[3:11] == ["1.2000", "1.2500", "1.2000", "0.960", "1.000", "NO", "1.0000", "1.200"]
    assert "error: ValueError: x" in text
    assert "= 80 ns per sample (one clock read: 50 ns); 0.007 % of the fastest case's mean" in text
    assert "0 of 2 lab means within 0.97-1.03 of both references (1 failed)" in text


def test_block_calls_last_at_least_the_block_time(fidelity):
    assert fidelity.block_calls(1.2, 0.2) == 167 and fidelity.block_calls(500.0, 0.2) == 1
    per_call = fidelity.block_timing(lambda: None, 1000, 2, 1)
    assert len(per_call) == 2 and all(0 < ms < 1 for ms in per_call)
