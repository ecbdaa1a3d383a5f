"""benchmarks/training_energy.py with a fake training measure (nothing trained): the grid it runs (seeds
outermost), the per-run table and the spread over seeds with a configuration that never reached."""
import pytest

from fakes import FakeTrain
from helpers import load_benchmark
from lab.train import bench as train_bench


@pytest.fixture
def bench(monkeypatch):
    module = load_benchmark("training_energy")
    monkeypatch.setattr(module, "train", lambda config, **_: {})  # the warm-up
    return module


def test_the_benchmark_runs_the_grid_seed_outermost_and_prints_the_spread(bench, monkeypatch, capsys):
    fake = FakeTrain(never={0.4})
    monkeypatch.setattr(train_bench, "default_measure", fake)
    assert bench.main(["--seeds", "0", "1", "2"]) == 0
    assert len(fake.calls) == 18 and [c.seed for c in fake.calls[:6]] == [0] * 6
    assert {(c.label_noise, c.data_kept) for c in fake.calls} == {(n, k) for n in (0.0, 0.2, 0.4) for k in (1.0, 0.5)}
    assert all(c.model == "digits-cnn" and c.target_accuracy == 0.9 for c in fake.calls)
    out = capsys.readouterr().out
    assert "spread over seeds" in out
    clean = next(line for line in out.splitlines() if line.split()[:3] == ["0", "1", "3/3"])
    assert "3 [3–3] (0)" in clean and "6 [6–6] (0)" in clean  # tta_s and eta_j: median [min–max] (IQR)
    never = next(line for line in out.splitlines() if line.split()[:3] == ["0.4", "1", "0/3"])
    assert "n/a" in never
