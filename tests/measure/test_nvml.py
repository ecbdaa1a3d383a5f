"""lab.measure.nvml's energy counter against a fake pynvml with known answers (GPU sources without a
counter, and power sampling, are in test_energy_gpu.py)."""
import pytest

from helpers import StepClock
from lab.measure.energy import choose_source, measure_energy
from lab.measure.energy_source import EnergyUnavailable
from lab.measure.nvml import NvmlEnergy
from nvml_errors import FakeNvml, NVMLError_LibraryNotFound, NVMLError_NotSupported


def test_nvml_counter_in_joules_exact_over_window():
    nvml = FakeNvml(step_mj=0)
    src = NvmlEnergy(0, nvml=nvml)
    assert src.name == "nvml" and src.min_window_s == 1.0
    assert "Fake H100" in src.note and "CPU not included" in src.note

    def work():  # each call costs exactly 500 mJ on the fake board
        nvml.mj += 500

    r = measure_energy(work, src, clock=StepClock(0.25))
    # 1.0 s window at 0.25 s per clock read -> 4 calls -> 2000 mJ.
    assert (r.calls, r.seconds, r.joules) == (4, 1.0, 2.0)
    assert r.source == "nvml" and r.note == src.note
    assert r.power_w == 2.0


def test_nvml_counter_stepping_per_read():
    src = NvmlEnergy(0, nvml=FakeNvml(step_mj=500))
    r = measure_energy(lambda: None, src, clock=StepClock(2.0))
    assert (r.calls, r.seconds, r.joules) == (1, 2.0, 0.5)


def test_nvml_library_not_found_falls_back_to_estimate():
    nvml = FakeNvml(init_error=NVMLError_LibraryNotFound())
    with pytest.raises(EnergyUnavailable, match="Library Not Found"):
        NvmlEnergy(0, nvml=nvml)
    src = choose_source("cuda:0", nvml=nvml)
    assert src.name == "estimate-cpu-only"  # not "estimate": the GPU is not in it
    assert "GPU not included: NVML unavailable: NVML Shared Library Not Found" in src.note
    assert "\n" not in src.note


def test_nvml_not_supported_on_old_gpu_fails_at_construction():
    nvml = FakeNvml(energy_error=NVMLError_NotSupported())
    with pytest.raises(EnergyUnavailable, match="Not Supported"):
        NvmlEnergy(0, nvml=nvml)
    assert choose_source("cuda", nvml=nvml).name == "estimate-cpu-only"
