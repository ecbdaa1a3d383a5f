"""lab.prepare: a model is built and transformed once per transform group, evaluated once."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lab
from lab.measure.timing import TimingPolicy
from lab.prepare import PreparedCache, transform_key
from lab.store import Store

TINY = lab.Budget(timing=TimingPolicy(warmup_runs=1, warmup_s=0.0, min_runs=5, min_time_s=0.01, max_time_s=0.05),
                  energy_window_s=0.0)


def counting_model(name: str):
    """Register a small model whose build and evaluate count their calls."""
    calls = {"build": 0, "evaluate": 0}
    data = torch.randn(32, 8)

    def build():
        calls["build"] += 1
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)).eval()

    def evaluate(model, device, dtype):
        calls["evaluate"] += 1
        return float(model(data.to(device, dtype)).argmax(1).float().mean())

    lab.register_model(name, build, make_input=lambda n: torch.randn(n, 8), evaluate=evaluate)
    return calls


def test_batch_sizes_and_threads_share_one_transformed_model_and_one_evaluation(tmp_path):
    calls = counting_model("counted")
    bench = lab.Bench(Store(tmp_path / "s.sqlite"), budget=TINY)
    rows = bench.rows(lab.grid(model="counted", quant=["fp32", "bf16"], threads=[1, 2], batch_size=[1, 4, 16]))
    assert len(rows) == 12 and all(r["error"] is None for r in rows)
    assert bench.prepared.built == 2  # one per scheme, whatever the batch size and threads
    assert calls["evaluate"] == 2 and calls["build"] <= 1  # the base model is built once per process
    firsts = [r for r in rows if not r["transform_reused"]]
    assert [(r["quant"], r["batch_size"], r["threads"]) for r in firsts] == [("fp32", 1, 1), ("bf16", 1, 1)]
    assert all(r["accuracy_note"] == "evaluated on held-out data" for r in firsts)
    reused = [r for r in rows if r["transform_reused"]]
    assert all(r["accuracy_note"].startswith("reused: evaluated on this transformed model for the batch-1 row")
               for r in reused)
    for quant in ("fp32", "bf16"):  # the same number for every row of a group
        assert len({r["accuracy"] for r in rows if r["quant"] == quant}) == 1
    assert len({r["flops"] for r in rows}) == 1


def test_the_cache_keeps_the_last_groups_and_a_re_registered_model_is_another_group():
    counting_model("lru")
    cache = PreparedCache(size=2)
    configs = [lab.Config(model="lru", quant=q, threads=1) for q in ("fp32", "bf16", "fp16")]
    for config in configs:
        cache.get(config)
    assert cache.built == 3
    cache.get(configs[2])
    cache.get(configs[1])
    assert cache.built == 3  # the last two are kept
    cache.get(configs[0])
    assert cache.built == 4  # the first was evicted
    before = transform_key(configs[0], lab.models.registry.get("lru"))
    counting_model("lru")  # registered again: another model under the same name
    assert transform_key(configs[0], lab.models.registry.get("lru")) != before
    cache.get(configs[0])
    assert cache.built == 5


def test_the_energy_window_covers_the_timed_calls():
    counting_model("windowed")
    row = lab.measure(lab.Config(model="windowed", batch_size=4, threads=1),
                      budget=lab.Budget(timing=TimingPolicy(warmup_runs=1, warmup_s=0.0, min_runs=20, min_time_s=0.2,
                                                            max_time_s=0.2), energy_window_s=0.1))
    # The timed samples already span the 0.1 s window: the energy is theirs, no call added.
    assert row["energy_calls"] == row["samples"] and row["energy_extra_calls"] == 0
    assert row["energy_window_s"] >= 0.1
    longer = lab.measure(lab.Config(model="windowed", batch_size=4, threads=1),
                         budget=lab.Budget(timing=TimingPolicy(warmup_runs=1, warmup_s=0.0, min_runs=5,
                                                               min_time_s=0.01, max_time_s=0.02),
                                           energy_window_s=0.3))
    # Too short for the energy window: extended with more calls, counted together.
    assert longer["energy_extra_calls"] > 0 and longer["energy_calls"] == longer["samples"] + longer["energy_extra_calls"]
    assert longer["energy_window_s"] == pytest.approx(0.3, abs=0.1)


def test_prune_ignore_declared_at_registration_keeps_those_layers_whole():
    """register_model(..., prune_ignore=[...]) reaches the pruning of every configuration, and is part
    of the model's identity (a model registered again with another list is measured anew)."""
    from lab import prepare
    from lab.measure import energy
    from lab.models import registry

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3)).eval()

    def transformed(ignore):
        lab.register_model("ignoring", build, make_input=lambda n: torch.randn(n, 8), prune_ignore=ignore)
        config = lab.Config(model="ignoring", prune_method="structured", sparsity=0.5, threads=1)
        model, _ = prepare.transform(config, registry.get("ignoring"), torch.device("cpu"),
                                     energy.choose_source("cpu"))
        return model, prepare.model_fingerprint("ignoring")

    pruned, plain_id = transformed(())
    kept, kept_id = transformed(["0"])
    assert pruned[0].out_features < 32 and kept[0].out_features == 32  # layer '0' kept whole
    assert kept_id != plain_id
    with pytest.raises(ValueError, match="prune_ignore"):
        lab.register_model("ignoring", build, make_input=lambda n: torch.randn(n, 8), prune_ignore="0")
