import math

import pytest
import torch
from torch import nn

import lab
from lab.columns import COLUMNS
from lab.measure.timing import TimingPolicy
from lab.store import Store

TINY = lab.Budget(timing=TimingPolicy(warmup_runs=1, warmup_s=0.0, min_runs=5, min_time_s=0.01, max_time_s=0.05),
                  energy_window_s=0.0)


def test_measure_returns_one_complete_row():
    config = lab.Config(model="digits-mlp", batch_size=8, threads=1)
    row = lab.measure(config, budget=TINY)
    assert row["error"] is None
    assert set(row) <= set(COLUMNS) | {"cpu_count", "python_version", "platform", "hostname"}, \
        set(row) - set(COLUMNS)
    for column in ("latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "latency_ms_iqr", "throughput_sps",
                   "model_size_mib", "energy_mj_per_sample", "power_w", "accuracy", "flops", "params"):
        assert isinstance(row[column], (int, float)) and math.isfinite(row[column]), column
    assert row["latency_ms_p50"] <= row["latency_ms_p90"] <= row["latency_ms_p99"]
    assert row["throughput_sps"] == pytest.approx(8 / (row["latency_ms_p50"] / 1e3), rel=1e-12)
    assert row["samples"] >= 5
    assert row["energy_source"] in ("nvml", "rapl", "estimate") and row["energy_note"]
    assert row["peak_mem_method"] == "vmhwm" and row["measurement_version"] == lab.MEASUREMENT_VERSION
    assert row["contention_method"] == "proc-stat" and 0 <= row["other_cpu_frac"] <= 1
    assert isinstance(row["contended"], bool) and isinstance(row["energy_inconsistent"], bool)
    assert row["params_removed_frac"] == 0.0 and row["quantized_frac"] == 0.0
    assert row["accuracy"] == pytest.approx(lab.models.registry.get("digits-mlp").recorded_quality, abs=1e-6)
    assert row["flops"] == 2 * (64 * 1024 + 1024 * 1024 * 2 + 1024 * 10)   # a multiply-add counts 2
    assert row["params"] == row["nonzero_params"] == 2176010
    assert row["config_id"] == config.config_id
    assert row["threads"] == 1 and row["torch_version"] == torch.__version__


def test_bf16_halves_the_stored_weights_and_keeps_accuracy():
    fp32, bf16 = (lab.measure(lab.Config(model="digits-mlp", quant=q, threads=1), budget=TINY) for q in ("fp32", "bf16"))
    assert bf16["model_size_mib"] == pytest.approx(fp32["model_size_mib"] / 2, rel=0.01)
    assert bf16["accuracy"] >= fp32["accuracy"] - 0.02


def test_threads_are_restored_after_measuring():
    before = torch.get_num_threads()
    lab.measure(lab.Config(model="digits-mlp", threads=1), budget=TINY)
    assert torch.get_num_threads() == before


def test_sweep_without_a_store_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "untouched.sqlite"))
    df = lab.sweep(lab.Config(model="digits-mlp", threads=1), store=None, budget=TINY)
    assert len(df) == 1 and not (tmp_path / "untouched.sqlite").exists()


class Fragile(nn.Module):
    """Runs out of 'memory' above batch 2, like a real model on a small device."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        if x.shape[0] > 2:
            raise torch.OutOfMemoryError("tried to allocate 1 GiB")
        return self.linear(x)


def test_a_failing_configuration_is_stored_with_its_error_and_the_sweep_goes_on(tmp_path):
    lab.register_model("fragile", Fragile(), make_input=lambda n: torch.randn(n, 4))
    store = Store(tmp_path / "s.sqlite")
    df = lab.sweep(lab.grid(model="fragile", batch_size=[1, 4, 2], threads=1), store=store, budget=TINY)
    assert list(df["batch_size"]) == [1, 4, 2]
    errors = list(df["error"])
    assert df["error"].isna().tolist() == [True, False, True]
    assert errors[1].startswith("out of memory:") and "1 GiB" in errors[1]
    assert len(store) == 3
    assert not store.has(lab.Config(model="fragile", batch_size=4, threads=1).config_id, df["env_id"][1])


def test_bring_your_own_model_in_three_lines_goes_through_a_grid(tmp_path):
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2)).eval()
    labels = torch.randint(0, 2, (50,))
    data = torch.randn(50, 16)

    def accuracy(model, device, dtype):
        return (model(data.to(device, dtype)).argmax(1).cpu() == labels).float().mean().item()

    lab.register_model("my-net", net, make_input=lambda n: torch.randn(n, 16), evaluate=accuracy)
    df = lab.sweep(lab.grid(model="my-net", batch_size=[1, 8], quant=["fp32", "bf16"], threads=1),
                   store=tmp_path / "s.sqlite", budget=TINY)
    assert len(df) == 4 and df["error"].isna().all()
    assert df["accuracy"].between(0, 1).all()
    assert (df["params"] == 16 * 32 + 32 + 32 * 2 + 2).all()
    assert net[0].weight.dtype == torch.float32   # the user's own module was not converted


def test_register_model_refuses_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        lab.register_model("", nn.Linear(2, 2), make_input=lambda n: torch.randn(n, 2))
    with pytest.raises(ValueError, match="callables"):
        lab.register_model("x", nn.Linear(2, 2), make_input=None)


def test_an_unsupported_scheme_device_pairing_is_a_row_with_an_error():
    row = lab.measure(lab.Config(model="digits-mlp", quant="fp8", threads=1), budget=TINY)
    assert row["error"].startswith("unsupported: fp8 needs a CUDA GPU")
    assert row.get("latency_ms_p50") is None


def test_structured_pruning_finetuning_and_int8_go_through_the_runner():
    base = lab.measure(lab.Config(model="digits-cnn", batch_size=4, threads=1), budget=TINY)
    row = lab.measure(lab.Config(model="digits-cnn", batch_size=4, threads=1, prune_method="structured",
                                 sparsity=0.5, finetune_epochs=1, quant="int8-dynamic"), budget=TINY)
    assert row["error"] is None
    assert row["params"] < base["params"] / 2 and row["flops"] < base["flops"] / 2
    assert row["finetune_epochs_done"] == 1 and row["finetune_s"] > 0 and row["finetune_energy_j"] > 0
    assert row["accuracy"] > row["accuracy_before_finetune"]
    assert row["model_size_mib"] < base["model_size_mib"]


def test_unstructured_pruning_reports_sparsity_reached():
    row = lab.measure(lab.Config(model="digits-mlp", threads=1, prune_method="unstructured", sparsity=0.9),
                      budget=TINY)
    assert abs(row["sparsity_reached"] - 0.9) < 1e-5
    assert row["nonzero_params"] < 0.2 * row["params"]
    assert row["sparse_size_mib"] < row["model_size_mib"]


def test_sensitivity_scan_for_a_registered_model():
    df = lab.sensitivity_scan("digits-mlp", sparsities=[0.0, 0.5])
    assert list(df.columns) == ["layer", "sparsity", "accuracy", "params"]
    assert len(df) == 4 * 2   # four Linear layers x two sparsities
    dense = df[df["sparsity"] == 0.0]["accuracy"]
    assert dense.tolist() == pytest.approx([lab.models.registry.get("digits-mlp").recorded_quality] * 4, abs=1e-6)


def test_every_row_carries_carbon_cost_and_the_roofline(monkeypatch):
    from lab import costs

    monkeypatch.setenv("LAB_CARBON_REGION", "france")
    row = lab.measure(lab.Config(model="digits-mlp", batch_size=8, threads=1), budget=TINY)
    assert row["error"] is None
    assert row["carbon_g_per_kwh"] == costs.CARBON_INTENSITY["france"]
    # the arithmetic of lab.costs on this row's own measured energy and throughput
    assert row["co2_g_per_1k"] == pytest.approx(row["energy_mj_per_sample"] / 3.6e6 * row["carbon_g_per_kwh"])
    assert row["cost_usd_per_1m"] == pytest.approx(row["price_usd_per_hour"] / 3600 * 1e6 / row["throughput_sps"])
    assert row["achieved_gflops"] == pytest.approx(row["flops"] * row["throughput_sps"] / 1e9)
    assert row["peak_gflops"] > 0 and row["bandwidth_gbs"] > 0
    assert row["arithmetic_intensity"] > 0 and row["roofline_frac"] > 0
    assert row["bound"] in ("compute", "memory")


def test_ceilings_are_measured_once_per_store_and_reused(tmp_path, monkeypatch):
    from lab import roofline

    calls = []

    def fake_measure(device):
        calls.append(device)
        return {"device": device, "peak_gflops": {"fp32": 100.0}, "bandwidth_gbs": 10.0}

    monkeypatch.setattr(roofline, "measure_ceilings", fake_measure)
    roofline.clear_cache()
    store = Store(tmp_path / "s.sqlite")
    try:
        first = lab.measure(lab.Config(model="digits-mlp", batch_size=2, threads=1), budget=TINY, store=store)
        roofline.clear_cache()  # a new process: the store still has them
        second = lab.measure(lab.Config(model="digits-mlp", batch_size=4, threads=1), budget=TINY, store=store)
    finally:
        roofline.clear_cache()  # later tests measure the real ceilings
    assert calls == ["cpu"]
    assert first["peak_gflops"] == second["peak_gflops"] == 100.0
    assert store.get_ceilings(first["env_id"], "cpu", 1)["bandwidth_gbs"] == 10.0


def test_model_size_is_measured_after_the_sparse_kernel_conversion(monkeypatch):
    # 2:4 hands its weights to a sparse kernel in prune.accelerate (CUDA only); the stored size must
    # be that of the converted model. Stand-in here: a conversion that halves the weights (bf16).
    from lab.transforms import prune

    class Converted(nn.Module):  # weights stored at half the size, run on fp32 inputs
        def __init__(self, model):
            super().__init__()
            self.model = model.to(torch.bfloat16)

        def forward(self, x):
            return self.model(x.to(torch.bfloat16)).float()

    monkeypatch.setattr(prune, "accelerate", lambda model, method, device: Converted(model))
    row = lab.measure(lab.Config(model="digits-mlp", threads=1), budget=TINY)
    dense = 2176010 * 4 / 2**20
    assert row["model_size_mib"] == pytest.approx(dense / 2, rel=0.01)
