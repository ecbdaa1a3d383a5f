"""benchmarks/fidelity.py runs end to end in its quick mode and writes sound JSON.

No wall-clock targets are asserted: on a shared machine they belong in the
benchmark's printed report, not in a test that must pass every time."""
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fidelity.py"


def test_quick_run_writes_ratios(tmp_path):
    out = tmp_path / "fidelity.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--models", "digits-mlp", "--batches", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ratios within 0.95-1.05" in proc.stdout
    assert "measuring digits-mlp batch 1" in proc.stderr  # progress goes to stderr

    result = json.loads(out.read_text())
    [case] = result["cases"]
    assert (case["model"], case["batch"]) == ("digits-mlp", 1)
    assert case["threads"] >= 1 and case["rounds"] >= 1
    for key in ("lab_p50_ms", "torch_median_ms", "ratio"):
        assert math.isfinite(case[key]) and case[key] > 0, key
    # The ratio is lab/torch within each round, then the median over the rounds used.
    used = [r for r in case["all_rounds"] if r["quiet"]] or case["all_rounds"]
    assert len(used) == case["rounds"]
    assert case["ratio"] == statistics.median(r["lab_p50_ms"] / r["torch_median_ms"] for r in used)
    assert case["ratio_of_medians"] == case["lab_p50_ms"] / case["torch_median_ms"]
    assert math.isfinite(result["overhead_us"]) and result["overhead_us"] > 0
    assert result["environment"]["torch_version"]


def test_unknown_model_is_one_clear_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--models", "no-such-model"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--models='no-such-model' is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr
