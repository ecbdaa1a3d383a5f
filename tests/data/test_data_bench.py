"""lab.data.LoaderBench: the data side's path — reuse rule, commit per row, error rows, the CLI."""
import itertools
import json
import math

import pytest

from helpers import assert_one_error_line, run_main
from lab.data import LOADER_MEASUREMENT_VERSION, LoaderBench, LoaderConfig, bench as bench_module, grid
from lab.store import Store

ENV = {"env_id": "env-1", "device_name": "Fake CPU"}


class FakeLoaderMeasure:
    """Instant loader rows; ``fail`` names num_workers values that raise; counts calls."""

    def __init__(self, fail=(), contended=False):
        self.calls, self.fail, self.contended = [], set(fail), contended

    def __call__(self, config, budget, *, data_dir=None):
        self.calls.append(config)
        if config.num_workers in self.fail:
            raise RuntimeError("worker died\nsecond line")
        return {"loader_sps": 1000.0 * (1 + config.num_workers), "model_sps": float("nan"), "pipeline_sps": 900.0,
                "stall_frac": 0.25, "cpu_util_frac": 0.5, "energy_mj_per_sample": 0.1, "energy_source": "estimate",
                "contended": self.contended, "startup_s": 0.01}


def bench(store, fake, **kwargs):
    ticks = itertools.count()
    return LoaderBench(store, measure=fake, environment=lambda device: ENV, clock=lambda: float(next(ticks)),
                       **kwargs)


def test_a_row_has_the_contract_columns_and_is_committed_as_its_own_kind(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    row = bench(store, FakeLoaderMeasure()).measure(LoaderConfig(num_workers=1))
    for column in ("kind", "dataset", "storage", "num_workers", "batch_size", "pin_memory", "prefetch_factor",
                   "persistent_workers", "sample_cost_ms", "model", "device", "threads", "seed", "config_id",
                   "env_id", "loader_sps", "model_sps", "pipeline_sps", "stall_frac", "cpu_util_frac",
                   "energy_mj_per_sample", "energy_source", "contended", "error", "seconds"):
        assert column in row, column
    assert row["kind"] == "loader" and row["error"] is None and row["seconds"] == 1.0
    assert row["measurement_version"] == LOADER_MEASUREMENT_VERSION and row["from_store"] is False
    stored = store.rows(kind="loader")
    assert len(stored) == 1 and stored[0]["loader_sps"] == 2000.0 and math.isnan(stored[0]["model_sps"])
    assert store.rows() == []  # the default reader (inference rows) never sees a loader row


def test_the_store_serves_a_second_request(tmp_path):
    fake = FakeLoaderMeasure()
    b = bench(Store(tmp_path / "s.sqlite"), fake)
    config = LoaderConfig(num_workers=2)
    first, second = b.row(config), b.row(config)
    assert len(fake.calls) == 1 and second["from_store"] and second["id"] == first["id"]
    assert b.row(config, force=True)["from_store"] is False and len(fake.calls) == 2


def test_reuse_rule_budget_contention_version(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    config = LoaderConfig()
    bench(store, FakeLoaderMeasure(), budget="quick").measure(config)
    assert bench(store, FakeLoaderMeasure()).stored(config) == []          # quick does not answer default
    bench(store, FakeLoaderMeasure()).measure(config)
    served = bench(store, FakeLoaderMeasure(), budget="quick").stored(config)
    assert [r["budget"] for r in served] == ["quick", "default"]              # default answers quick too
    contended = FakeLoaderMeasure(contended=True)
    other = LoaderConfig(num_workers=1)
    bench(store, contended).measure(other)
    assert bench(store, FakeLoaderMeasure()).stored(other) == []           # contended: stored, never served
    old = dict(store.rows(kind="loader")[-1], contended=False, measurement_version=LOADER_MEASUREMENT_VERSION - 1)
    assert not bench(store, FakeLoaderMeasure()).serves(old)


def test_a_failure_is_an_error_row_of_one_line_and_gets_no_more_repeats(tmp_path):
    fake = FakeLoaderMeasure(fail={1})
    seen, progress = [], []
    rows = bench(Store(tmp_path / "s.sqlite"), fake).rows(grid(num_workers=[0, 1]), repeats=2, on_row=seen.append,
                                                          progress=lambda d, t: progress.append((d, t)))
    errors = [r for r in rows if r["error"]]
    assert len(rows) == 3 and len(errors) == 1 and errors[0]["error"] == "RuntimeError: worker died"
    assert [c.num_workers for c in fake.calls] == [0, 1, 0]  # round by round; the failed one not repeated
    assert seen == rows and progress[-1] == (4, 4)


def test_measure_from_a_background_thread(tmp_path):
    import threading

    out = {}
    b = bench(Store(tmp_path / "s.sqlite"), FakeLoaderMeasure())
    worker = threading.Thread(target=lambda: out.update(row=b.measure(LoaderConfig())))
    worker.start()
    worker.join(10)
    assert out["row"]["error"] is None and len(b.store.rows(kind="loader")) == 1


@pytest.fixture
def fake_loader_measure(monkeypatch):
    fake = FakeLoaderMeasure(fail={3})
    monkeypatch.setattr(bench_module, "default_measure", fake)
    return fake


def test_cli_measures_the_product_prints_a_table_and_stores(fake_loader_measure, tmp_path):
    store = tmp_path / "cli.sqlite"
    code, out, err = run_main(["data", "--dataset", "mnist1d", "--num-workers", "0", "1", "2",
                               "--sample-cost-ms", "0.2", "--store", store])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["dataset", "storage", "num_workers"] and len(lines) == 4
    assert [c.num_workers for c in fake_loader_measure.calls] == [0, 1, 2]
    assert all(c.sample_cost_ms == 0.2 for c in fake_loader_measure.calls)
    assert len(Store(store).rows(kind="loader")) == 3
    code, out, err = run_main(["data", "--num-workers", "0,1", "--sample-cost-ms", "0.2", "--store", store,
                                "--format", "json"])
    assert code == 0 and "came from" in err and len(fake_loader_measure.calls) == 3
    assert [json.loads(line)["from_store"] for line in out.strip().splitlines()] == [True, True]


def test_cli_failed_rows_exit_1(fake_loader_measure):
    code, out, err = run_main(["data", "--num-workers", "3", "--no-store"])
    assert code == 1 and "RuntimeError: worker died" in out and "failed" in err


@pytest.mark.parametrize("argv, words", [
    (["--num-workers", "-1"], ["num_workers=-1", "0 to 64"]),
    (["--prefetch-factor", "2"], ["prefetch_factor=2", "num_workers is 0"]),
    (["--batch", "0"], ["batch_size=0"]),
    (["--storage", "tape"], ["storage='tape'"]),
])
def test_cli_bad_input_is_one_line(fake_loader_measure, argv, words):
    assert_one_error_line(*run_main(["data", "--no-store", *argv]), *words)
    assert fake_loader_measure.calls == []


def test_a_row_answers_only_while_the_set_on_disk_has_its_size(tmp_path):
    """python -m lab.data.generate --samples N resizes the on-disk set: a row measured on another size
    is another measurement (epoch length, restarts, stall), not served for this one."""
    class Sized(FakeLoaderMeasure):
        def __call__(self, config, budget, *, data_dir=None):
            return {**super().__call__(config, budget, data_dir=data_dir), "dataset_samples": size["now"]}

    def write_set(samples):
        (tmp_path / "mnist1d").mkdir(exist_ok=True)
        (tmp_path / "mnist1d" / "meta.json").write_text(json.dumps({"version": 1, "samples": samples}))
        size["now"] = samples

    size, fake = {}, Sized()
    b = bench(Store(tmp_path / "s.sqlite"), fake, data_dir=tmp_path)
    files = LoaderConfig(dataset="mnist1d", storage="files")
    write_set(2000)
    assert b.row(files)["from_store"] is False and b.row(files)["from_store"] is True and len(fake.calls) == 1
    write_set(500)                                   # a smaller set written since: measured again
    assert b.row(files)["from_store"] is False and len(fake.calls) == 2
    write_set(2000)                                  # back to the first size: its row answers again
    assert b.row(files)["from_store"] is True and len(fake.calls) == 2
