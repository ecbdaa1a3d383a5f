"""benchmarks/fidelity.py runs end to end in its quick mode and writes sound JSON.

No wall-clock targets are asserted: on a shared machine they belong in the
benchmark's printed report, not in a test that must pass every time."""
import argparse
import io
import json
import math
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
    assert case["block_calls"] >= 1 and case["block_calls"] % case["torch_block_size"] == 0
    # Each ratio is one tool's pooled mean over the other's, across the rounds used; all made the same calls.
    used = [r for r in case["all_rounds"] if r["quiet"]] or case["all_rounds"]
    assert len(used) == case["rounds"] == len(case["round_ratios_torch"])
    assert case["mean_ratio_torch"] == pytest.approx(
        sum(r["lab_total_ms"] for r in used) / sum(r["torch_total_ms"] for r in used))
    assert all(r["lab_samples"] == r["torch_calls"] == r["block_calls"] for r in used)
    assert case["ratio"] == case["lab_p50_ms"] / case["torch_median_ms"]
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
    # No real timing. Timer's calibration: blocks of 2 calls at 1.25 ms, so a 0.02 s slice is
    # 16 calls = 8 Timer blocks. Per slice the lab's samples are 1 ms x 15 and 3 ms (mean 1.125,
    # p50 1.0, skew 1.125); Timer's blocks average 1.25 ms; the block loop reads 1.2 ms a call.
    policies, timer_blocks, block_calls = [], [], []

    class FakeTimer:
        def __init__(self, stmt, globals, num_threads):
            assert (stmt, num_threads) == ("model(x)", 1)

        def blocked_autorange(self, min_run_time):
            return types.SimpleNamespace(number_per_run=2, mean=1.25e-3)

    def fake_lab(fn, policy, threads):
        policies.append(policy)
        return types.SimpleNamespace(samples_ms=(1.0,) * (policy.max_runs - 1) + (3.0,))

    def fake_torch(timer, number, blocks):
        timer_blocks.append((number, blocks))
        return [2.5e-3] * blocks

    def fake_block(fn, n, repeats, threads):
        block_calls.append((n, repeats, threads))
        return [1.2] * repeats

    monkeypatch.setattr(fidelity, "Timer", FakeTimer)
    monkeypatch.setattr(fidelity, "lab_timing", fake_lab)
    monkeypatch.setattr(fidelity, "torch_timing", fake_torch)
    monkeypatch.setattr(fidelity, "block_timing", fake_block)
    monkeypatch.setattr(fidelity, "wait_for_quiet", lambda s: None)
    args = argparse.Namespace(threads=1, rounds=3, slices=4, max_wait=0.0, max_case_s=60.0, quick=False)
    case = fidelity.measure_case(torch.nn.Identity(), torch.zeros(1), args)

    assert case["lab_mean_ms"] == pytest.approx(1.125)
    assert (case["torch_mean_ms"], case["block_mean_ms"]) == pytest.approx((1.25, 1.2))
    assert case["mean_ratio_torch"] == pytest.approx(0.9) and case["mean_ratio_block"] == pytest.approx(0.9375)
    assert case["skew"] == pytest.approx(1.125) and case["lab_p50_ms"] == 1.0
    assert case["ratio"] == pytest.approx(0.8)  # last week's statistic, p50 / Timer median: ~ lab/Timer / skew
    # The same count for every tool in every slice: 16 lab samples, 8 Timer blocks of 2, a block of 16.
    assert case["block_calls"] == 16 and case["torch_block_size"] == 2
    assert {(p.min_runs, p.max_runs, p.warmup_runs) for p in policies} == {(16, 16, 0)}
    assert len(policies) == len(timer_blocks) == len(block_calls) == 3 * 4
    assert set(timer_blocks) == {(2, 8)} and set(block_calls) == {(16, 1, 1)}
    assert len(case["all_rounds"]) == 3 and case["round_ratios_torch"] == pytest.approx([0.9] * 3)
    assert all("lab_samples_ms" not in r for r in case["all_rounds"])  # raw samples stay out of the JSON

    case.update(model="fake", batch=1, threads=1, error=None)
    overhead = {"overhead_us": 0.06, "torch_pass_us": 0.01, "lab_empty_mean_ns": 110.0, "block_empty_ns": 30.0,
                "clock_read_ns": 50.0, "harness_ns_per_sample": 80.0}
    out = io.StringIO()
    fidelity.print_report([case, {"model": "broken", "batch": 1, "threads": 1, "error": "ValueError: x"}],
                          overhead, quick=False, out=out)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("fake"))
    assert row.split()[3:11] == ["1.1250", "1.2500", "1.2000", "0.900", "0.938", "NO", "1.0000", "1.125"]
    assert "error: ValueError: x" in text
    assert "= 80 ns per sample (one clock read: 50 ns); 0.007 % of the fastest case's mean" in text
    assert "0 of 2 lab means within 0.97-1.03 of both references (1 failed)" in text


def test_block_calls_last_at_least_the_block_time(fidelity):
    assert fidelity.block_calls(1.2, 0.2) == 167 and fidelity.block_calls(500.0, 0.2) == 1
    per_call = fidelity.block_timing(lambda: None, 1000, 2, 1)
    assert len(per_call) == 2 and all(0 < ms < 1 for ms in per_call)
