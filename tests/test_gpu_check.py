"""benchmarks/gpu_check.py: its --dry-run proves the wiring on a CPU, and without CUDA
it refuses in one line. The figures themselves need a GPU (python benchmarks/gpu_check.py
--out gpu-check/); nothing here asserts a wall-clock target."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
SECTIONS = ("environment", "timing", "energy", "memory", "ceilings", "schemes")


@pytest.mark.slow
def test_dry_run_on_cpu_runs_every_section(tmp_path):
    out = tmp_path / "gpu-check"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for number, name in enumerate(SECTIONS, 1):
        assert f"== {number} {name} ==" in proc.stdout, name
    assert "== summary ==" in proc.stdout
    assert "sections failed: none" in proc.stdout
    assert "skipped: needs CUDA" in proc.stdout  # the CUDA-only parts say so on a CPU
    assert "Traceback" not in proc.stdout + proc.stderr

    result = json.loads((out / "gpu_check.json").read_text())
    assert result["mode"] == "dry run" and result["device"] == "cpu"
    assert result["sections_run"] == list(SECTIONS)
    for name in SECTIONS:
        assert name in result and "error" not in result[name], name
    assert result["environment"]["describe"]["torch_version"] == torch.__version__
    timing = [c for c in result["timing"]["cases"] if not c.get("error")]
    assert timing and all(c["ratio"] > 0 for c in timing)
    assert all(w["calls"] and w["mean_joules_per_call"] >= 0 for w in result["energy"]["windows"])
    assert all(c["lab_peak_mib"] >= 0 and c["direct_peak_mib"] is None for c in result["memory"]["cases"])
    assert result["ceilings"]["bandwidth_gbs"] > 0
    rows = result["schemes"]["rows"]
    assert {r["quant"] for r in rows if r["model"] == "digits-mlp"} >= {"fp32", "int8-dynamic", "fp8"}
    # Every row errors exactly where the lab says the scheme can't run here (fp8 and 2:4 need CUDA).
    assert all(r["as_expected"] for r in rows if not r.get("skipped"))
    assert any(r["quant"] == "fp8" and r["error"] for r in rows)
    assert any(r["prune_method"] == "2:4" and r["error"] for r in rows)
    assert result["summary"]
    assert (out / "gpu_check.log").read_text() == proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_refuses_in_one_line():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("no CUDA device: this check needs an NVIDIA GPU; ")


def test_help_answers():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--device", "--out", "--quick", "--dry-run"):
        assert flag in proc.stdout
    assert "python benchmarks/gpu_check.py --out gpu-check/" in proc.stdout
