"""benchmarks/data_training.py part (1) with fakes (nothing timed): the table, the ratio's verdict, and
that part (2) is benchmarks/training_energy.py's main, called with no arguments of this script's."""
import io
import sys
from pathlib import Path

import pytest

from helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("data_training")


def result(workers, pipeline, plain, error=None):
    if error:
        return {"num_workers": workers, "error": error}
    return {"num_workers": workers, "loader_sps": 1000.0, "model_sps": 5000.0, "pipeline_sps": pipeline,
            "stall_frac": 0.8, "startup_s": 0.05, "cpu_util_frac": 0.5, "energy_mj_per_sample": 1.0,
            "energy_source": "estimate", "contended": 0, "plain_sps": plain, "pipeline_range": (pipeline, pipeline),
            "plain_range": (plain, plain), "repeats": 3, "error": None}


def test_ratio_within_target_is_met(bench):
    out = io.StringIO()
    assert bench.print_part1([result(0, 1000.0, 1000.0), result(1, 1040.0, 1000.0)], out=out) is True
    text = out.getvalue()
    assert "MET" in text and "NOT MET" not in text and "1.040" in text


def test_ratio_outside_or_a_failure_is_not_met(bench):
    out = io.StringIO()
    assert bench.print_part1([result(0, 1100.0, 1000.0)], out=out) is False
    assert "outside 0.95-1.05" in out.getvalue() and "NOT MET" in out.getvalue()
    out = io.StringIO()
    assert bench.print_part1([result(0, 1000.0, 1000.0), result(2, 0, 0, error="RuntimeError: boom")], out=out) is False
    assert "NOT MEASURED: RuntimeError: boom" in out.getvalue()


def test_part1_medians_over_alternating_runs(bench, monkeypatch):
    calls = []

    class FakeBench:
        budget = bench.LoaderBench(None, budget="quick").budget

        def __init__(self, *args, **kwargs):
            pass

        def measure(self, config):
            calls.append(("lab", config.num_workers))
            value = [900.0, 1000.0, 1100.0][sum(1 for c in calls if c[0] == "lab") % 3]
            return {"error": None, "loader_sps": value, "model_sps": 1.0, "pipeline_sps": value, "stall_frac": 0.5,
                    "startup_s": 0.1, "cpu_util_frac": 0.4, "energy_mj_per_sample": 2.0, "energy_source": "estimate",
                    "contended": False}

    monkeypatch.setattr(bench, "LoaderBench", FakeBench)
    monkeypatch.setattr(bench, "plain_loop_sps", lambda w, skip: calls.append(("plain", w)) or 1000.0)
    [row] = bench.part1([1], repeats=3, budget="quick")
    assert [c[0] for c in calls] == ["lab", "plain"] * 3
    assert row["pipeline_sps"] == 1000.0 and row["plain_sps"] == 1000.0 and row["pipeline_range"] == (900.0, 1100.0)


def test_part2_calls_the_training_benchmark_with_no_arguments(bench, monkeypatch):
    import types

    calls = []
    fake = types.SimpleNamespace(main=lambda argv=None: calls.append(argv) or 3)
    monkeypatch.setitem(sys.modules, "training_energy", fake)
    assert bench.run_part2() == 3 and calls == [[]]  # not None: argparse would read this script's arguments


def test_the_training_benchmark_is_beside_it_and_takes_argv(monkeypatch):
    import inspect

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    sys.modules.pop("training_energy", None)
    try:
        import training_energy

        assert "argv" in inspect.signature(training_energy.main).parameters
    finally:
        sys.modules.pop("training_energy", None)  # the next importer finds the file afresh
