"""Training rows round-trip through the figures: python -m lab figures draws ETA against TTA and the
accuracy-energy curves from a store or a training study, with sidecars naming the rows drawn."""
import json

import pytest

from fakes import FakeTrain
from helpers import run_main
from lab import study as studies
from lab.store import Store
from lab.train import TrainBench, grid
from lab.train import bench as train_bench

NAMES = ("eta-tta", "accuracy-energy-curves")


@pytest.fixture
def store_with_training_rows(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    fake = FakeTrain(never={0.4})
    TrainBench(store, measure=fake, environment=lambda d: {"env_id": "e"}).rows(
        grid(model="digits-cnn", label_noise=[0.0, 0.2, 0.4], seed=[0, 1]))
    TrainBench(store, measure=FakeTrain(fail=True), environment=lambda d: {"env_id": "e"}).rows(
        grid(model="digits-cnn", label_noise=[0.3], seed=[0]))
    return store


@pytest.mark.slow  # matplotlib renders real figures
def test_figures_from_a_store_with_training_rows(store_with_training_rows, tmp_path):
    out = tmp_path / "figs"
    code, printed, err = run_main(["figures", "--store", store_with_training_rows.path, "--out", out,
                                   "--format", "svg", "--size", "single"])
    assert code == 0, err
    for name in NAMES:
        assert (out / f"{name}-single.svg").stat().st_size > 1000 and f"{name}-single.svg" in printed
    stored = store_with_training_rows.rows(kind="training")
    card = json.loads((out / "eta-tta-single.json").read_text())
    reached = sorted(r["id"] for r in stored if r.get("reached"))
    assert card["row_ids"] == reached and len(reached) == 4
    assert [o["config"] for o in card["omitted"]] == ["label_noise=0.4"]  # never reached: named, not dropped
    assert [f["error"] for f in card["failed"]] == ["RuntimeError: boom"] and card["complete"] is False
    curves = json.loads((out / "accuracy-energy-curves-single.json").read_text())
    assert curves["row_ids"] == sorted(r["id"] for r in stored if not r.get("error"))
    index = json.loads((out / "index.json").read_text())
    assert {w["figure"] for w in index["written"]} == set(NAMES)


@pytest.mark.slow  # matplotlib renders real figures
def test_inference_and_training_rows_in_one_store_give_both_kinds_of_figure(store_with_training_rows, tmp_path,
                                                                             fake_measure):
    import lab

    lab.Bench(store_with_training_rows, budget="quick").rows(lab.grid(model="digits-mlp", batch_size=[1, 8]))
    out = tmp_path / "figs"
    code, _, err = run_main(["figures", "--store", store_with_training_rows.path, "--out", out, "--format", "svg",
                             "--size", "single"])
    assert code == 0, err
    index = json.loads((out / "index.json").read_text())
    written = {w["figure"] for w in index["written"]}
    assert set(NAMES) <= written and "accuracy-latency" in written
    # The failed training run stays listed: the inference writer's index used to overwrite it.
    assert "RuntimeError: boom" in [f["error"] for f in index["failed"]]
    assert "RuntimeError: boom" in (out / "index.md").read_text() and "RuntimeError: boom" in err


@pytest.mark.slow  # matplotlib renders real figures
@pytest.mark.parametrize("query, drawn, not_drawn", [
    ("quant == 'fp32'", "accuracy-latency", "eta-tta"),  # quant: inference rows only
    ("label_noise == 0.0", "eta-tta", "accuracy-latency"),  # label_noise: training rows only
])
def test_a_query_on_a_column_of_one_kind_only_filters_out_the_other_kind(store_with_training_rows, tmp_path,
                                                                         fake_measure, query, drawn, not_drawn):
    import lab

    lab.Bench(store_with_training_rows, budget="quick").rows(lab.grid(model="digits-mlp", batch_size=[1, 8]))
    out = tmp_path / "figs"
    code, _, err = run_main(["figures", "--store", store_with_training_rows.path, "--query", query, "--out", out,
                             "--format", "svg", "--size", "single"])
    assert code == 0, err
    written = {w["figure"] for w in json.loads((out / "index.json").read_text())["written"]}
    assert drawn in written and not_drawn not in written


def test_a_query_on_a_column_neither_kind_has_is_still_bad_input(store_with_training_rows, tmp_path, fake_measure):
    import lab

    lab.Bench(store_with_training_rows, budget="quick").rows(lab.grid(model="digits-mlp"))
    code, _, err = run_main(["figures", "--store", store_with_training_rows.path, "--query", "nosuchcolumn > 1",
                             "--out", tmp_path / "figs"])
    assert code == 2 and "pandas query" in err


@pytest.mark.slow  # matplotlib renders real figures
def test_a_training_study_sweeps_through_train_bench_and_draws(tmp_path, monkeypatch):
    fake = FakeTrain()
    monkeypatch.setattr(train_bench, "default_measure", fake)
    path = tmp_path / "noise.toml"
    path.write_text('name = "noise"\nkind = "training"\nseeds = [0, 1]\nrepeats = 1\n'
                    '[grid]\nmodel = ["digits-cnn"]\nlabel_noise = [0.0, 0.2]\ntarget_accuracy = 0.95\n')
    code, out, err = run_main(["sweep", path, "--store", tmp_path / "s.sqlite"])
    assert code == 0, err
    assert len(fake.calls) == 4 and "4 rows measured" in err
    df, manifest = studies.load_results(path)
    assert manifest["kind"] == "training" and len(df) == 4 and set(df["kind"]) == {"training"}
    again = run_main(["sweep", path, "--store", tmp_path / "s.sqlite"])
    assert again[0] == 0 and len(fake.calls) == 4 and "0 rows measured, 4 reused" in again[2]
    code, printed, err = run_main(["figures", path, "--out", tmp_path / "figs", "--format", "png", "--size", "single"])
    assert code == 0, err
    assert "eta-tta-single.png" in printed, printed


def test_failed_training_runs_are_one_entry_per_configuration_in_words_with_both_counts():
    import pandas as pd

    from lab.paper.training import failed_rows

    def row(i, noise, seed, error=None):
        return {"id": i, "kind": "training", "model": "digits-cnn", "label_noise": noise, "seed": seed,
                "config_id": f"c-{noise}-{seed}", "error": error}

    # Three repeats of one configuration, one failed; one other configuration whose only repeat failed.
    df = pd.DataFrame([row(1, 0.0, 0), row(2, 0.0, 0, "RuntimeError: out of memory\ntraceback"), row(3, 0.0, 0),
                       row(4, 0.3, 1, "RuntimeError: boom")])
    assert failed_rows(df) == [
        {"config": "digits-cnn · label_noise=0 · seed 0", "config_id": "c-0.0-0", "error": "RuntimeError: out of memory",
         "repeats_failed": 1, "repeats_measured": 2, "row_ids": [2]},
        {"config": "digits-cnn · label_noise=0.3 · seed 1", "config_id": "c-0.3-1", "error": "RuntimeError: boom",
         "repeats_failed": 1, "repeats_measured": 0, "row_ids": [4]}]
    assert failed_rows(df.drop(columns=["error"])) == []
