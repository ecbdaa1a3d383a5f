"""benchmarks/data_training.py part (1) with fakes (nothing timed): the table, the ratio's verdict, and
that part (2) runs only when benchmarks/training_energy.py is there."""
import io

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


def test_part2_runs_only_when_the_training_benchmark_exists(bench, tmp_path, monkeypatch, capsys):
    fake_file = tmp_path / "data_training.py"
    monkeypatch.setattr(bench, "__file__", str(fake_file))
    assert bench.run_part2() is None
    assert "not run" in capsys.readouterr().out
    (tmp_path / "training_energy.py").write_text("def main(argv=None):\n    print('part 2 ran', argv)\n    return 0\n")
    assert bench.run_part2() == 0
    assert "part 2 ran []" in capsys.readouterr().out
    (tmp_path / "training_energy.py").write_text("def main():\n    print('no arguments')\n    return 1\n")
    assert bench.run_part2() == 1 and "no arguments" in capsys.readouterr().out
