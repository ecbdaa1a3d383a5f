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
                   "bound": "memory", "roofline_precision": "fp32", "roofline_note": None}
    assert set(out) <= set(COLUMNS)


def test_compute_bound_by_hand():
    # 2e6 FLOPs/sample x 256 samples over 1e6 bytes: 512 FLOP/byte; x 20 GB/s = 10240 > 400 bf16 peak.
    # achieved: 2e6 x 1e5 samples/s = 200 GFLOP/s = half of 400.
    out = row_fields(flops_per_sample=2e6, batch_size=256, throughput_sps=1e5, bytes_per_batch=1e6, quant="bf16",
                     ceilings=CEILINGS)
    assert out["arithmetic_intensity"] == pytest.approx(512.0)
    assert out["peak_gflops"] == 400.0 and out["bound"] == "compute"
    assert out["achieved_gflops"] == pytest.approx(200.0) and out["roofline_frac"] == pytest.approx(0.5)


KWARGS = dict(flops_per_sample=1e9, batch_size=64, throughput_sps=10, bytes_per_batch=1e6)


def test_int8_is_held_against_its_own_ceiling():
    out = row_fields(quant="int8-dynamic", ceilings=CEILINGS, **KWARGS)
    assert (out["roofline_precision"], out["peak_gflops"], out["roofline_note"]) == ("int8", 800.0, None)
    # 1e9 x 10 = 10 GFLOP/s; intensity 64e9/1e6 = 64000 x 20 GB/s >> 800: compute-bound, 10/800.
    assert out["roofline_frac"] == pytest.approx(10 / 800) and out["bound"] == "compute"


@pytest.mark.parametrize("quant, precision", [("int8-dynamic", "int8"), ("fp8", "fp8"), ("fp16", "fp16")])
def test_an_unmeasured_precision_gives_no_fraction_and_says_why(quant, precision):
    # Before: int8 silently fell back to the fp32 ceiling (and fp8 to fp16), so int8 rows read
    # roofline_frac against a roof 2-8x too low. Now: no fraction, and the row says why.
    ceilings = {**CEILINGS, "peak_gflops": {"fp32": 100.0}, "unsupported": {"fp16": "RuntimeError: no kernel"}}
    out = row_fields(quant=quant, ceilings=ceilings, **KWARGS)
    assert out["roofline_precision"] == precision
    assert out["peak_gflops"] is None and out["roofline_frac"] is None and out["bound"] is None
    why = " (RuntimeError: no kernel)" if precision == "fp16" else ""
    assert out["roofline_note"] == (f"no {precision} ceiling measured on this device{why}; quant={quant} computes "
                                    f"in {precision}, and another precision's ceiling would be a wrong roof")
    assert out["achieved_gflops"] == pytest.approx(10.0) and out["bandwidth_gbs"] == 20.0  # still measured


def test_int8_static_is_fp32_in_eager_mode_and_int8_compiled():
    # Eager PT2E runs fp32 matmuls between quantize/dequantize ops; inductor fuses them into int8 kernels.
    eager = row_fields(quant="int8-static", ceilings=CEILINGS, **KWARGS)
    compiled = row_fields(quant="int8-static", ceilings=CEILINGS, compiled=True, **KWARGS)
    assert (eager["roofline_precision"], eager["peak_gflops"]) == ("fp32", 100.0)
    assert (compiled["roofline_precision"], compiled["peak_gflops"]) == ("int8", 800.0)


def test_notes_for_missing_ceilings_and_inputs():
    assert row_fields(quant="fp32", ceilings=None, **KWARGS)["roofline_note"] == \
        "no ceilings were measured for this device"
    out = row_fields(quant="fp32", ceilings=CEILINGS, **{**KWARGS, "throughput_sps": None})
    assert out["roofline_frac"] is None and out["roofline_note"] == "no throughput_sps for this row"


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


def test_precision_of_every_scheme_comes_from_its_registry_entry():
    expected = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8-dynamic": "int8",
                "int8-dynamic-torchao": "int8", "int8-static": "fp32", "int8-weight-only": "fp32",
                "int4-weight-only": "bf16", "fp8": "fp8"}
    assert {q: precision_of(q) for q in SCHEMES} == expected  # every registered scheme has one
    assert {q: precision_of(q, compiled=True) for q in SCHEMES} == {**expected, "int8-static": "int8"}
    assert all(precision_of(q, c) in roofline.PRECISIONS for q in SCHEMES for c in (False, True))  # measurable
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


class _FakeMeter:
    """A contention meter whose windows read the given shares of other processes' CPU use, in turn."""

    method = "given"

    def __init__(self, fracs):
        self.fracs = list(fracs)

    def window(self):
        import contextlib
        import types

        window = types.SimpleNamespace(other_cpu_frac=self.fracs.pop(0))
        return contextlib.nullcontext(window)


def test_ceilings_taken_on_a_busy_machine_are_retried_then_flagged_and_never_served(tmp_path):
    from lab.measure.contention import ContentionPolicy

    calls = []
    measure = lambda device: calls.append(device) or dict(CEILINGS)  # noqa: E731
    quick = ContentionPolicy(max_retries=1, pause_s=0.0)
    store = Store(tmp_path / "s.sqlite")
    # Busy, then quiet: the quiet attempt is kept, clean.
    clean = ceilings("cpu", 1, store=store, env_id="env-q", measure=measure, meter=_FakeMeter([0.6, 0.02]), policy=quick)
    assert len(calls) == 2 and clean["contended"] is False and clean["other_cpu_frac"] == 0.02
    # Busy twice: kept for this process, flagged; a new process does not take it from the store.
    busy = ceilings("cpu", 1, store=store, env_id="env-b", measure=measure, meter=_FakeMeter([0.7, 0.5]), policy=quick)
    assert busy["contended"] is True and busy["other_cpu_frac"] == 0.5 and "contended" in busy["contention_note"]
    assert ceilings("cpu", 1, store=store, env_id="env-b", measure=measure) is busy  # this process: at hand
    roofline.clear_cache()
    calls.clear()
    again = ceilings("cpu", 1, store=store, env_id="env-b", measure=measure, meter=_FakeMeter([0.0]), policy=quick)
    assert len(calls) == 1 and again["contended"] is False  # measured again, now clean
    assert ceilings("cpu", 1, store=store, env_id="env-q", measure=measure) == clean and len(calls) == 1
