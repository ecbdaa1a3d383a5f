import math

import pytest
import torch

from lab import roofline
from lab.columns import COLUMNS
from lab.roofline import batch_bytes, ceilings, measure_ceilings, precision_of, row_fields
from lab.store import Store
from lab.transforms.quantize import SCHEMES

CEILINGS = {"device": "cpu", "threads": 2, "peak_gflops": {"fp32": 100.0, "bf16": 400.0, "int8": 800.0},
            "bandwidth_gbs": 20.0, "unsupported": {"fp16": "test"}}


@pytest.fixture(autouse=True)
def _fresh_cache():
    roofline.clear_cache()
    yield
    roofline.clear_cache()


def test_memory_bound_by_hand():
    # 1e6 FLOPs/sample x batch 1 over 1e6 bytes: 1 FLOP/byte; x 20 GB/s = 20 GFLOP/s < 100 peak: memory-bound.
    # achieved: 1e6 FLOP x 5000 samples/s = 5 GFLOP/s = a quarter of the attainable 20.
    out = row_fields(flops_per_sample=1e6, batch_size=1, throughput_sps=5000, bytes_per_batch=1e6, quant="fp32",
                     ceilings=CEILINGS)
    assert out == {"achieved_gflops": pytest.approx(5.0), "peak_gflops": 100.0, "bandwidth_gbs": 20.0,
                   "arithmetic_intensity": pytest.approx(1.0), "roofline_frac": pytest.approx(0.25),
                   "bound": "memory"}
    assert set(out) <= set(COLUMNS)


def test_compute_bound_by_hand():
    # 2e6 FLOPs/sample x 256 samples over 1e6 bytes: 512 FLOP/byte; x 20 GB/s = 10240 > 400 bf16 peak.
    # achieved: 2e6 x 1e5 samples/s = 200 GFLOP/s = half of 400.
    out = row_fields(flops_per_sample=2e6, batch_size=256, throughput_sps=1e5, bytes_per_batch=1e6, quant="bf16",
                     ceilings=CEILINGS)
    assert out["arithmetic_intensity"] == pytest.approx(512.0)
    assert out["peak_gflops"] == 400.0 and out["bound"] == "compute"
    assert out["achieved_gflops"] == pytest.approx(200.0) and out["roofline_frac"] == pytest.approx(0.5)


def test_int8_uses_its_own_ceiling_and_falls_back_to_fp32_when_unmeasured():
    kwargs = dict(flops_per_sample=1e9, batch_size=64, throughput_sps=10, bytes_per_batch=1e6)
    assert row_fields(quant="int8-dynamic", ceilings=CEILINGS, **kwargs)["peak_gflops"] == 800.0
    no_int8 = {**CEILINGS, "peak_gflops": {"fp32": 100.0}}
    assert row_fields(quant="int8-dynamic", ceilings=no_int8, **kwargs)["peak_gflops"] == 100.0


@pytest.mark.parametrize("missing", ["flops_per_sample", "throughput_sps", "bytes_per_batch", "ceilings"])
def test_none_inputs_give_none_outputs(missing):
    kwargs = dict(flops_per_sample=1e6, batch_size=8, throughput_sps=100.0, bytes_per_batch=1e6, quant="fp32",
                  ceilings=CEILINGS)
    kwargs[missing] = None
    out = row_fields(**kwargs)
    assert out["roofline_frac"] is None
    if missing != "ceilings":
        assert out["peak_gflops"] == 100.0  # what doesn't depend on the missing input is still there
    else:
        assert out["peak_gflops"] is None and out["bound"] is None and out["achieved_gflops"] == pytest.approx(0.1)
    assert row_fields(**{**kwargs, missing: kwargs[missing], "throughput_sps": float("inf")})["achieved_gflops"] is None


def test_precision_of_every_scheme():
    expected = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8-dynamic": "int8",
                "int8-dynamic-torchao": "int8", "int8-static": "int8", "int8-weight-only": "fp32",
                "int4-weight-only": "bf16", "fp8": "fp8"}
    assert {q: precision_of(q) for q in SCHEMES} == expected  # every registered scheme has a mapping
    assert precision_of("fp8", measured={"fp16": 1.0}) == "fp16"
    assert precision_of("int8-static", measured={"fp32": 1.0}) == "fp32"
    assert precision_of("int8-static", measured={"int8": 1.0}) == "int8"
    with pytest.raises(ValueError, match=r"^quant='int3' is not allowed: one of fp32, "):
        precision_of("int3")


def test_batch_bytes_definition():
    assert batch_bytes(1.0, 100, 28) == 2**20 + 128
    assert batch_bytes(None, 100, 28) is None


def test_ceilings_cached_in_the_store_and_reused(tmp_path):
    calls = []

    def fake_measure(device):
        calls.append((device, torch.get_num_threads()))
        return {**CEILINGS, "threads": torch.get_num_threads()}

    store = Store(tmp_path / "s.sqlite")
    first = ceilings("cpu", 1, store=store, env_id="env-a", measure=fake_measure)
    assert calls == [("cpu", 1)]  # measured at the thread count asked for
    assert store.get_ceilings("env-a", "cpu", 1) == first
    assert ceilings("cpu", 1, store=store, env_id="env-a", measure=fake_measure) is first  # in-process cache
    roofline.clear_cache()  # a new process: the store answers
    assert ceilings("cpu", 1, store=Store(tmp_path / "s.sqlite"), env_id="env-a", measure=fake_measure) == first
    assert len(calls) == 1
    ceilings("cpu", 2, store=store, env_id="env-a", measure=fake_measure)  # other threads: other ceilings
    ceilings("cpu", 1, store=store, env_id="env-b", measure=fake_measure)  # other environment: measured again
    assert calls == [("cpu", 1), ("cpu", 2), ("cpu", 1)]


def test_ceilings_without_a_store_measure_once_per_process():
    calls = []
    measure = lambda device: calls.append(device) or dict(CEILINGS)  # noqa: E731
    assert ceilings("cpu", 2, measure=measure) == ceilings("cpu", 2, measure=measure)
    assert calls == ["cpu"]


def test_measure_ceilings_on_this_cpu_quickly():
    out = measure_ceilings("cpu", ("fp32", "bf16", "int8"), min_run_s=0.01, size=64, copy_mib=1)
    assert out["device"] == "cpu" and out["threads"] == torch.get_num_threads()
    assert set(out["peak_gflops"]) | set(out["unsupported"]) == {"fp32", "bf16", "int8"}
    assert "fp32" in out["peak_gflops"]
    for value in [*out["peak_gflops"].values(), out["bandwidth_gbs"]]:
        assert math.isfinite(value) and value > 0
    assert all(n <= 64 for n in out["matmul_n"].values())


def test_unsupported_precision_is_reported_not_raised(monkeypatch):
    real = roofline._matmul

    def no_int8(precision, n, device):
        if precision == "int8":
            raise RuntimeError("int8 matmul is not implemented here\nsecond line")
        return real(precision, n, device)

    monkeypatch.setattr(roofline, "_matmul", no_int8)
    out = measure_ceilings("cpu", ("fp32", "int8"), min_run_s=0.01, size=32, copy_mib=1)
    assert "fp32" in out["peak_gflops"] and "int8" not in out["peak_gflops"]
    assert out["unsupported"] == {"int8": "RuntimeError: int8 matmul is not implemented here"}
    with pytest.raises(ValueError, match=r"^precisions='int3' is not allowed: any of fp32, bf16"):
        measure_ceilings("cpu", ("fp32", "int3"))


def test_matmul_size_grows_only_while_calls_stay_short(monkeypatch):
    monkeypatch.setattr(roofline, "_seconds", lambda fn, min_run_s: 0.5)
    monkeypatch.setattr(roofline, "_once", lambda call, device: 1e-6)  # fast: grows to the full size
    out = measure_ceilings("cpu", ("fp32",), size=64, copy_mib=1)
    assert out["matmul_n"] == {"fp32": 64}
    assert out["peak_gflops"]["fp32"] == pytest.approx(2 * 64**3 / 0.5 / 1e9)  # FLOPs of the size timed
    assert out["bandwidth_gbs"] == pytest.approx(2 * 2**20 / 0.5 / 1e9)     # read + written bytes
    monkeypatch.setattr(roofline, "_once", lambda call, device: 1.0)   # slow: stays at the first size
    out = measure_ceilings("cpu", ("fp16",), size=4096, copy_mib=1, min_run_s=0.2)
    assert out["matmul_n"] == {"fp16": 256}
    assert out["peak_gflops"]["fp16"] == pytest.approx(2 * 256**3 / 0.5 / 1e9)
