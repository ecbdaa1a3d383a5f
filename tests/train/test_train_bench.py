"""TrainBench: the reuse rule, commit-as-measured, error rows, cancelled runs, and the store round trip."""
import math

import pytest

from fakes import FakeTrain
from lab.store import Store
from lab.train import TRAINING_VERSION, TrainBench, TrainConfig, grid

ENV = {"env_id": "env-1", "cpu_model": "Fake CPU"}


def bench(tmp_path, fake, **kwargs):
    return TrainBench(Store(tmp_path / "s.sqlite"), measure=fake, environment=lambda device: ENV, **kwargs)


def test_a_training_row_round_trips_through_the_store_as_its_own_kind(tmp_path):
    fake = FakeTrain()
    tb = bench(tmp_path, fake)
    row = tb.measure(TrainConfig(model="digits-cnn", label_noise=0.2))
    stored = tb.store.rows(kind="training")
    assert len(stored) == 1 and tb.store.rows() == []  # inference readers never see it
    back = stored[0]
    for key in ("kind", "config_id", "env_id", "reached", "tta_s", "eta_j", "best_accuracy", "final_accuracy",
                "epochs", "samples_seen", "seconds", "energy_j", "energy_source", "curve", "contended", "error",
                "label_noise", "model", "training_version"):
        assert back[key] == row[key], key
    assert back["kind"] == "training" and back["training_version"] == TRAINING_VERSION
    assert back["curve"][1] == {"epoch": 2, "seconds": 3.0, "energy_j": 6.0, "samples_seen": 200,
                                "accuracy": 0.97, "contended": False}
    frame = tb.store.dataframe(kind="training")
    assert list(frame["tta_s"]) == [3.0]


def test_stored_rows_are_reused_and_missing_repeats_measured(tmp_path):
    fake = FakeTrain()
    tb = bench(tmp_path, fake)
    configs = grid(model="digits-cnn", seed=[0, 1])
    first = tb.rows(configs, repeats=2)
    assert len(first) == 4 and len(fake.calls) == 4 and not any(r["from_store"] for r in first)
    again = tb.rows(configs, repeats=2)
    assert len(again) == 4 and len(fake.calls) == 4 and all(r["from_store"] for r in again)
    tb.rows(configs, repeats=3)
    assert len(fake.calls) == 6  # only the third repeat of each


def test_a_contended_row_is_stored_flagged_and_never_served(tmp_path):
    fake = FakeTrain(contended=True)
    tb = bench(tmp_path, fake)
    config = TrainConfig(model="digits-cnn")
    tb.row(config)
    tb.row(config)
    assert len(fake.calls) == 2 and len(tb.store.rows(kind="training")) == 2


def test_a_failure_becomes_an_error_row_with_one_line_and_no_further_repeats(tmp_path):
    fake = FakeTrain(fail=True)
    tb = bench(tmp_path, fake)
    rows = tb.rows([TrainConfig(model="digits-cnn")], repeats=3)
    assert len(rows) == 1 and rows[0]["error"] == "RuntimeError: boom" and len(fake.calls) == 1
    assert rows[0]["reached"] is False and math.isnan(rows[0]["tta_s"])
    assert tb.store.rows(kind="training")[0]["error"] == "RuntimeError: boom"


def test_a_cancelled_run_is_returned_not_stored_and_ends_the_sweep(tmp_path):
    fake = FakeTrain(cancel=True)
    tb = bench(tmp_path, fake)
    rows = tb.rows(grid(model="digits-cnn", seed=[0, 1]))
    assert [r["error"] for r in rows] == ["cancelled"] and tb.store.rows(kind="training") == []


def test_on_epoch_gets_each_point_with_its_config(tmp_path):
    seen = []
    tb = bench(tmp_path, FakeTrain())
    tb.rows(grid(model="digits-cnn", seed=[0, 1]), on_epoch=lambda config, point: seen.append((config.seed, point["epoch"])))
    assert seen == [(0, 1), (0, 2), (1, 1), (1, 2)]


@pytest.mark.slow  # one real epoch of digits-mlp
def test_every_column_of_a_real_training_row_is_documented():
    from lab.columns import COLUMNS

    row = TrainBench(None).measure(TrainConfig(model="digits-mlp", threads=1, max_epochs=1, target_accuracy=0.05))
    environment = {"cpu_count", "python_version", "platform", "hostname"}
    assert row["error"] is None and row["kind"] == "training" and row["reached"] is True
    assert sorted(set(row) - set(COLUMNS) - environment) == []
