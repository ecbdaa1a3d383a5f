"""lab.bench: the one path from every front end to the store, and its one reuse rule.

Everything here runs on the fake measure of tests/conftest.py (instant, exact): which rows are
served and which measured is decided by the Bench alone, whichever front end asks.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

import lab
from helpers import run_main
from lab.bench import Bench
from lab.budget import Budget, at_least_as_strict
from lab.errors import FieldError
from lab.measure.timing import TimingPolicy
from lab.store import Store

CONFIG = lab.Config(model="digits-mlp", batch_size=4, threads=1)


def test_rows_are_committed_as_measured_and_served_on_a_rerun(fake_measure, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    configs = lab.grid(model="digits-mlp", batch_size=[1, 2], threads=1)
    seen, ticks = [], []
    df = lab.sweep(configs, store=store, on_row=seen.append, progress=lambda d, t: ticks.append((d, t)))
    assert [r["batch_size"] for r in seen] == [1, 2] and ticks == [(1, 2), (2, 2)]
    assert not df["from_store"].any() and len(store) == 2
    assert (df["measurement_version"] == lab.MEASUREMENT_VERSION).all() and (df["budget"] == "default").all()

    again = lab.sweep(configs, store=store)
    assert again["from_store"].all() and len(store) == 2 and len(fake_measure.calls) == 2
    assert list(again["latency_ms_p50"]) == list(df["latency_ms_p50"])
    forced = lab.sweep(configs[:1], store=store, force=True)
    assert not forced["from_store"].any() and len(store) == 3


def test_a_stricter_budget_serves_a_looser_request_never_the_reverse(fake_measure):
    bench = Bench()
    quick = bench.measure(CONFIG, Budget.named("quick"))
    assert quick["budget"] == "quick"
    assert bench.serves(quick, Budget.named("quick")) and not bench.serves(quick, Budget())
    default = bench.measure(CONFIG, Budget())
    assert bench.serves(default, Budget.named("quick"))
    assert at_least_as_strict("default", "quick") and not at_least_as_strict("quick", "default")
    assert not at_least_as_strict("custom", "custom")  # rows from before custom names carried a hash


def test_custom_budgets_are_named_by_their_policy_and_only_serve_the_same_policy(fake_measure):
    tiny = Budget(timing=TimingPolicy(min_runs=5), energy_window_s=0.0)
    other = dataclasses.replace(tiny, energy_window_s=0.5)
    assert tiny.name.startswith("custom-") and tiny.name != other.name
    assert dataclasses.replace(tiny, idle_baseline_s=2.0).name == tiny.name  # the idle choice is its own column
    bench = Bench()
    row = bench.measure(CONFIG, tiny)
    assert bench.serves(row, tiny) and not bench.serves(row, other) and not bench.serves(row, Budget())


def test_failed_contended_and_outdated_rows_are_never_served(fake_measure):
    bench = Bench()
    good = bench.measure(CONFIG)
    assert bench.serves(good)
    assert not bench.serves({**good, "error": "out of memory: x"})
    assert not bench.serves({**good, "contended": True})  # measured while others held the cores
    assert not bench.serves({**good, "measurement_version": lab.MEASUREMENT_VERSION - 1})
    assert not bench.serves({k: v for k, v in good.items() if k != "measurement_version"})
    assert not bench.serves({**good, "model_fingerprint": "another model"})
    assert not bench.serves({**good, "idle_power_w": 3.0})  # an idle-subtracted energy answers only its kind
    assert bench.serves({**good, "idle_power_w": 3.0}, dataclasses.replace(Budget(), idle_baseline_s=1.0))


def test_a_contended_row_is_stored_flagged_and_measured_again_next_time(fake_measure):
    fake_measure.extra = {"contended": True, "other_cpu_frac": 0.6}
    bench = Bench()
    first = bench.row(CONFIG)
    assert first["contended"] and len(bench.store) == 1
    fake_measure.extra = {"contended": False, "other_cpu_frac": 0.01}
    second = bench.row(CONFIG)
    assert not second["from_store"] and not second["contended"] and len(fake_measure.calls) == 2
    assert bench.row(CONFIG)["from_store"]


def test_a_re_registered_model_is_measured_anew(fake_measure):
    import torch
    from torch import nn

    lab.register_model("mine", nn.Linear(4, 2), make_input=lambda n: torch.randn(n, 4))
    config = lab.Config(model="mine", threads=1)
    bench = Bench()
    bench.row(config)
    assert bench.row(config)["from_store"]
    lab.register_model("mine", nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), make_input=lambda n: torch.randn(n, 4))
    assert not bench.row(config)["from_store"] and len(fake_measure.calls) == 2


def test_what_this_machine_cannot_run_is_an_error_row_with_the_reason(fake_measure):
    # A config only describes: cuda loads anywhere, and measuring it here says why it was not measured.
    row = Bench().measure(lab.Config(model="digits-mlp", device="cuda:7", threads=1))
    assert row["error"].startswith("unsupported: device=cuda:7 is not on this machine")
    too_many = Bench().measure(lab.Config(model="digits-mlp", threads=1000))
    assert "threads=1000 is more than the" in too_many["error"]
    assert fake_measure.calls == []  # refused before anything ran


def test_an_exception_while_measuring_is_an_error_row_and_the_sweep_goes_on(fake_measure):
    fake_measure.fail = {"bf16"}
    rows = Bench().rows(lab.grid(model="digits-mlp", quant=["fp32", "bf16", "fp16"], threads=1))
    assert [r["error"] for r in rows] == [None, "unsupported: fake", None]
    assert "Unsupported: fake" in rows[1]["error_detail"]


def test_repeats_are_interleaved_and_a_failure_stops_only_its_own(fake_measure):
    fake_measure.fail = {"bf16"}
    configs = lab.grid(model="digits-mlp", quant=["fp32", "bf16", "fp16"], threads=1)
    progress = []
    rows = Bench().rows(configs, repeats=3, progress=lambda d, t: progress.append((d, t)))
    assert [c.quant for c in fake_measure.calls] == ["fp32", "bf16", "fp16", "fp32", "fp16", "fp32", "fp16"]
    assert len(rows) == 7 and progress[-1] == (9, 9)
    fake_measure.calls.clear()
    assert len(Bench().rows(configs, repeats=3)) == 7 and [c.quant for c in fake_measure.calls] == ["bf16"]


def test_a_dashboard_quick_row_answers_run_quick_and_never_a_default_request(fake_measure):
    from lab.widgets import Dashboard

    dash = Dashboard(autostart=False, debounce_s=0)
    try:
        dash.set(model="digits-mlp", batch_sizes=(4,), threads=1)
        assert dash.wait(30)
    finally:
        dash.close()
    assert dash.rows["budget"].tolist() == ["quick"] and len(fake_measure.calls) == 1
    code, out, err = run_main(["run", "--model", "digits-mlp", "--batch", "4", "--threads", "1", "--quick",
                               "--format", "json"])
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["from_store"] is True and len(fake_measure.calls) == 1
    code, out, err = run_main(["run", "--model", "digits-mlp", "--batch", "4", "--threads", "1", "--format", "json"])
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["from_store"] is False and len(fake_measure.calls) == 2


def test_open_store_refuses_a_mistyped_path(tmp_path):
    with pytest.raises(FieldError, match="directory that does not exist"):
        Bench(tmp_path / "no" / "such" / "dir.sqlite")
    assert Bench(None).store is None


def test_the_environment_is_injected_and_computed_once_per_bench(fake_measure):
    seen = []

    def environment(device):
        seen.append(device)
        return {"env_id": "fake-env", "device_name": "fake"}

    bench = Bench(None, environment=environment)
    rows = bench.rows(lab.grid(model="digits-mlp", batch_size=[1, 2, 4], threads=1))
    assert {r["env_id"] for r in rows} == {"fake-env"} and seen == ["cpu"]


def test_the_clock_is_injected(fake_measure):
    ticks = iter([10.0, 12.5])
    row = Bench(None, clock=lambda: next(ticks)).measure(CONFIG)
    assert row["seconds"] == 2.5
