"""lab.data.measure on real DataLoaders (short windows): the row's figures, worker CPU counted as ours."""
import math
import multiprocessing

import pytest

from lab.data import LoaderBench, LoaderBudget, LoaderConfig
from lab.data.measure import BUDGETS, energy_source, meter
from lab.data.work import burn_cpu
from lab.measure.contention import ContentionPolicy, CpuContention

TINY = LoaderBudget(phase_s=0.15, warmup_batches=1, contention=ContentionPolicy(max_retries=0))


def test_a_budget_is_named_by_its_policy():
    assert LoaderBudget().name == "default" and LoaderBudget.named("quick").name == "quick"
    custom = LoaderBudget(phase_s=0.05)  # stored as "default" while the name was a field with that default
    assert custom.name.startswith("custom-") and custom.name not in BUDGETS
    assert custom.name == LoaderBudget(phase_s=0.05).name != TINY.name  # the same policy, the same name


@pytest.mark.slow
def test_a_real_pipeline_with_a_worker_reading_pngs(tmp_path):
    config = LoaderConfig(dataset="digits", storage="files", num_workers=1, batch_size=32, sample_cost_ms=0.1,
                          model="digits-cnn", threads=1)
    row = LoaderBench(None, budget=TINY, data_dir=tmp_path).measure(config)
    assert row["error"] is None, row.get("error_detail")
    assert row["kind"] == "loader" and row["dataset_samples"] == 1437 and row["model_input_shape"] == [1, 8, 8]
    for column in ("loader_sps", "model_sps", "pipeline_sps", "startup_s", "energy_mj_per_sample"):
        assert math.isfinite(row[column]) and row[column] > 0, column
    assert 0.0 <= row["stall_frac"] <= 1.0 and 0.0 < row["cpu_util_frac"] <= 1.0 + 1e-6
    assert row["energy_source"] in ("estimate", "rapl") and row["energy_note"]
    assert row["pinned"] is False and isinstance(row["contended"], bool)
    # The pipeline cannot beat either of its halves by much (they run one after the other in one loop).
    assert row["pipeline_sps"] < 1.2 * min(row["loader_sps"], row["model_sps"])


@pytest.mark.slow
def test_the_loader_alone_and_a_train_step(tmp_path):
    alone = LoaderBench(None, budget=TINY).measure(LoaderConfig(dataset="mnist1d", batch_size=64, threads=1))
    assert alone["error"] is None and math.isnan(alone["model_sps"])
    assert alone["pipeline_sps"] > 0 and alone["stall_frac"] == pytest.approx(1.0, abs=0.05)
    train = LoaderBench(None, budget=TINY).measure(LoaderConfig(dataset="mnist1d", model="mnist1d-cnn", step="train",
                                                                threads=1, augment=False))
    assert train["error"] is None and train["model_sps"] > 0


def test_a_model_that_does_not_fit_the_samples_is_an_error_row():
    row = LoaderBench(None, budget=TINY).measure(LoaderConfig(dataset="digits", model="mnist1d-cnn"))
    assert row["error"].startswith("unsupported: model 'mnist1d-cnn' takes 40 values per sample")
    assert "\n" not in row["error"]


def test_pin_memory_without_an_accelerator_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has an accelerator")
    row = LoaderBench(None, budget=TINY).measure(LoaderConfig(dataset="digits", pin_memory=True, batch_size=256,
                                                              augment=False))
    assert row["error"] is None and row["pinned"] is False and "no accelerator" in row["pin_memory_note"]


def test_our_workers_are_not_counted_as_other_processes():
    plain = CpuContention()  # lab.measure.contention's default: child processes count as others
    ours = meter()
    with plain.window() as by_default, ours.window() as by_tree:
        child = multiprocessing.get_context("fork").Process(target=burn_cpu, args=(400,))  # ms
        child.start()
        child.join()
    if by_default.other_cpu_frac is None:
        pytest.skip("contention cannot be read here")
    to_seconds = by_default.seconds * by_default.cpus
    difference_s = (by_default.other_cpu_frac - by_tree.other_cpu_frac) * to_seconds
    assert difference_s == pytest.approx(0.4, abs=0.1)


def test_the_cpu_estimate_counts_the_process_tree():
    source = energy_source("cpu")
    if source.name != "estimate":
        pytest.skip("a counter, not the estimate, is used here")
    before = source.read_joules()
    child = multiprocessing.get_context("fork").Process(target=burn_cpu, args=(300,))  # ms
    child.start()
    child.join()
    assert (source.read_joules() - before) / source.watts_per_core >= 0.25
    assert "loader workers" in source.note


@pytest.mark.slow
def test_a_real_measurement_with_a_worker_from_a_background_thread():
    import threading

    out = {}
    bench = LoaderBench(None, budget=TINY)
    config = LoaderConfig(dataset="digits", num_workers=1, batch_size=64, threads=1)
    worker = threading.Thread(target=lambda: out.update(row=bench.measure(config)))
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and out["row"]["error"] is None, out.get("row", {}).get("error_detail")
    assert out["row"]["loader_sps"] > 0
