import math

import pytest
import torch

from lab.measure import memory
from lab.models.digits import DigitsMLP


def test_a_known_allocation_reads_its_size():
    size_mib = 64
    peak = memory.peak_mib(lambda: torch.ones(size_mib * memory.MIB // 4))
    assert size_mib - 0.5 <= peak <= size_mib + 4


def test_memory_freed_earlier_does_not_hide_a_pass():
    # glibc reuses freed heap memory without the kernel seeing it; the measurement must not read 0.
    for _ in range(3):
        junk = [torch.ones(256 * 1024) for _ in range(64)]  # 64 x 1 MiB, then freed
        del junk
    peak = memory.peak_mib(lambda: torch.ones(16 * memory.MIB // 4))
    assert peak >= 15.5


@torch.inference_mode()
def test_batch_2048_mlp_reads_its_real_activation_size():
    model = DigitsMLP().eval()
    x = torch.rand(2048, 64)
    model(x)  # warm
    activation_mib = 2048 * 1024 * 4 / memory.MIB   # one hidden layer's output: 8 MiB
    peak = memory.peak_mib(lambda: model(x))
    assert peak >= activation_mib                   # at least one activation is live
    assert peak <= 4 * activation_mib               # never more than a few at once


def test_model_size_is_the_weights_as_stored():
    model = torch.nn.Linear(1024, 1024)
    weights_mib = (1024 * 1024 + 1024) * 4 / memory.MIB
    assert memory.model_size_mib(model) == pytest.approx(weights_mib, rel=0.01)
    assert memory.model_size_mib(model.to(torch.bfloat16)) == pytest.approx(weights_mib / 2, rel=0.01)


@pytest.mark.gpu
def test_cuda_peak_reads_a_known_allocation():
    peak = memory.peak_mib(lambda: torch.ones(32 * memory.MIB // 4, device="cuda"), "cuda:0")
    assert 32 <= peak <= 34


# Which method measured, and machines without /proc (macOS, Windows).

def _linux_high_water_mark_works():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@pytest.fixture
def no_proc(monkeypatch, tmp_path):
    """A machine without /proc: both files the Linux method reads are missing."""
    monkeypatch.setattr(memory, "_STATUS_PATH", str(tmp_path / "proc" / "self" / "status"))
    monkeypatch.setattr(memory, "_CLEAR_REFS_PATH", str(tmp_path / "proc" / "self" / "clear_refs"))


def test_linux_reads_the_high_water_mark():
    if not _linux_high_water_mark_works():
        pytest.skip("needs a writable /proc/self/clear_refs (Linux)")
    result = memory.peak(lambda: torch.ones(64 * memory.MIB // 4))
    assert result.method == "vmhwm"
    assert 63.5 <= result.mib <= 68
    assert result.as_row() == {"peak_mem_mib": result.mib, "peak_mem_method": "vmhwm"}


def test_without_proc_a_value_and_its_method_come_back(no_proc):
    kept = []
    result = memory.peak(lambda: kept.append(torch.ones(64 * memory.MIB // 4)))  # still resident at the end
    assert len(kept) == 1                                   # called exactly once
    assert result.method in ("rss-sampling", "maxrss-growth")
    if result.method == "rss-sampling":                     # psutil here, or the OS through ctypes
        assert 63.5 <= result.mib <= 68


def test_sampling_sees_a_peak_that_is_gone_by_the_end(no_proc, monkeypatch):
    import threading

    base = 100 * memory.MIB
    state = {"rss": base}
    seen_high = threading.Event()

    def fake_rss():
        value = state["rss"]
        if value > base:
            seen_high.set()
        return value

    def transient_64_mib():
        state["rss"] = base + 64 * memory.MIB
        assert seen_high.wait(5.0)                          # the sampler read it while it lasted
        state["rss"] = base

    monkeypatch.setattr(memory, "_RSS_READERS", (fake_rss,))
    assert memory.peak(transient_64_mib) == memory.PeakMemory(64.0, "rss-sampling")


def test_max_rss_growth_is_the_last_resort(no_proc, monkeypatch):
    readings = iter([100 * memory.MIB, 150 * memory.MIB, 150 * memory.MIB, 150 * memory.MIB])
    monkeypatch.setattr(memory, "_RSS_READERS", ())
    monkeypatch.setattr(memory, "_max_rss_bytes", lambda: next(readings))
    assert memory.peak(lambda: None) == memory.PeakMemory(50.0, "maxrss-growth")   # a lower bound
    unchanged = memory.peak(lambda: None)                   # did not raise the lifetime peak: unknown
    assert math.isnan(unchanged.mib) and unchanged.method == "maxrss-growth"


def test_no_method_at_all_gives_nan_not_an_exception(no_proc, monkeypatch):
    def no_getrusage():
        raise ImportError("no resource module")

    monkeypatch.setattr(memory, "_RSS_READERS", ())
    monkeypatch.setattr(memory, "_max_rss_bytes", no_getrusage)
    calls = []
    result = memory.peak(lambda: calls.append(1))
    assert calls == [1]
    assert math.isnan(result.mib) and result.method == "unavailable"
    assert math.isnan(memory.peak_mib(lambda: None))
    assert memory.cpu_peak(lambda: None) == (None, "unavailable")


def test_the_calls_own_error_still_propagates(no_proc, monkeypatch):
    monkeypatch.setattr(memory, "_RSS_READERS", ())
    with pytest.raises(ZeroDivisionError):
        memory.peak(lambda: 1 / 0)
