"""python -m lab train: bad input is one line; rows printed, stored and summarised; a line per epoch."""
import pytest

from fakes import FakeTrain
from helpers import assert_one_error_line, run_main
from lab.store import Store
from lab.train import bench as train_bench


@pytest.fixture
def fake_train(monkeypatch):
    fake = FakeTrain()
    monkeypatch.setattr(train_bench, "default_measure", fake)
    return fake


@pytest.mark.parametrize("flags, words", [
    (["--label-noise", "1.5"], ("label_noise=1.5", "up to (not including) 1")),
    (["--target-accuracy", "1.2"], ("target_accuracy=1.2", "above 0 up to 1")),
    (["--lr", "0"], ("lr=0", "above 0")),
    (["--model", "nope"], ("model='nope'",)),
])
def test_bad_input_is_one_line(fake_train, flags, words):
    argv = ["train", *(["--model", "digits-cnn"] if "--model" not in flags else []), *flags]
    assert_one_error_line(*run_main(argv), *words)
    assert fake_train.calls == []


def test_train_prints_each_row_a_line_per_epoch_and_the_spread_and_stores_the_rows(fake_train, tmp_path):
    store = tmp_path / "t.sqlite"
    code, out, err = run_main(["train", "--model", "digits-cnn", "--label-noise", "0", "0.2",
                               "--target-accuracy", "0.95", "--seeds", "0", "1", "2", "--store", store])
    assert code == 0, err
    assert len(fake_train.calls) == 6
    assert {(c.label_noise, c.seed) for c in fake_train.calls} == {(n, s) for n in (0.0, 0.2) for s in (0, 1, 2)}
    assert err.count("epoch 1  accuracy 0.500") == 6 and "epoch 2  accuracy 0.970  3.0 s  6.0 J" in err
    assert "spread across seeds" in out and "3/3" in out and "3 [3–3]" in out
    assert len(Store(store).rows(kind="training")) == 6
    again = run_main(["train", "--model", "digits-cnn", "--label-noise", "0,0.2", "--seeds", "0,1,2",
                      "--target-accuracy", "0.95", "--store", store])
    assert again[0] == 0 and len(fake_train.calls) == 6 and "6 of 6 rows came from" in again[2]


def test_a_failed_run_exits_1_with_its_error_in_the_table(monkeypatch, tmp_path):
    monkeypatch.setattr(train_bench, "default_measure", FakeTrain(fail=True))
    code, out, err = run_main(["train", "--model", "digits-cnn", "--no-store"])
    assert code == 1 and "RuntimeError: boom" in out and "1 of 1 runs failed" in err
