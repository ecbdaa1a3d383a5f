"""Energy against power x time, and the CPU-only label for GPU runs: exact fake numbers."""
import pytest

from helpers import StepClock
from lab.measure.energy import (
    ENERGY_SOURCES, CpuOnlyEstimate, CpuTimeEstimate, EnergyReading, GpuUtilizationEstimate, NvmlEnergy,
    RaplEnergy, check_energy, check_row, energy_consistent, measure_energy,
)


class Seq:
    def __init__(self, *values):
        self.values = list(values)

    def __call__(self):
        return self.values.pop(0)


# ---------------------------------------------------------------- the reported case

def test_202_mj_per_sample_at_099_ms_and_97_w_is_flagged():
    # Batch 8: 202 mJ x 8 = 1.616 J per call, timed at 0.99 ms -> 1632 W implied, while the
    # energy window itself averaged 9.7 W (its calls took 167 ms each, not 0.99 ms).
    row = {"energy_mj_per_sample": 202.0, "batch_size": 8, "latency_ms_mean": 0.99, "power_w": 9.7}
    check = check_row(row)
    assert check.inconsistent is True
    assert check.implied_power_w == pytest.approx(1632.3232, rel=1e-6)
    assert check.note == (
        "energy inconsistent: 1.62 J per call over the timed 0.99 ms implies 1632 W, but the energy window "
        "averaged 9.7 W: its calls took 167 ms each (168x the timed latency; allowed 1.5x either way), so the "
        "two windows saw different runs")
    assert check.as_row() == {"energy_inconsistent": True, "energy_check_note": check.note}
    # With the estimate's ceiling (2 CPUs x 5 W) the implied power is implausible too.
    assert check_row(row, max_power_w=10.0).note.endswith("; 1632 W is above 1.5x the source's ceiling of 10 W")
    assert energy_consistent(1.616, 0.99e-3, 9.7) is False


def test_agreeing_row_is_consistent():
    row = {"energy_mj_per_sample": 1.25, "batch_size": 8, "latency_ms_mean": 1.0, "power_w": 10.0}
    check = check_row(row, max_power_w=20.0)
    assert (check.inconsistent, check.implied_power_w) == (False, 10.0)
    assert check.note == "consistent: energy-window calls 1 ms vs timed 1 ms (1x); implied 10 W, under the 20 W ceiling"
    assert check_row(row).note.endswith(", no ceiling known")


# ---------------------------------------------------------------- the arithmetic, exactly

def test_energy_consistent_tolerance_edges():
    assert energy_consistent(3.0, 1.0, 2.0)                    # 1.5x: the edge is allowed
    assert not energy_consistent(3.5, 1.0, 2.0)                # 1.75x
    assert energy_consistent(1.0, 1.0, 1.5)                    # 1 / 1.5: the other edge
    assert not energy_consistent(1.0, 1.0, 2.0)                # 0.5x
    assert energy_consistent(1.25, 1.0, 1.0, tolerance=0.25) and not energy_consistent(1.5, 1.0, 1.0, tolerance=0.25)
    for bad in (0.0, -1.0, float("nan"), None, True):
        with pytest.raises(ValueError, match="positive"):
            energy_consistent(1.0, 1.0, bad)


def test_power_far_above_the_ceiling_is_flagged_even_when_consistent():
    assert check_energy(0.03, 1.0, 30.0, max_power_w=20.0).inconsistent is False  # 30 W = 1.5 x 20 W: allowed
    over = check_energy(0.04, 1.0, 40.0, max_power_w=20.0)
    assert (over.inconsistent, over.implied_power_w) == (True, 40.0)
    assert over.note == "energy inconsistent: 40 W is above 1.5x the source's ceiling of 20 W"


@pytest.mark.parametrize("row, why", [
    ({"energy_mj_per_sample": None, "batch_size": 8, "latency_ms_mean": 1.0, "power_w": 10.0},
     "not checked: energy per call is None J, not a positive number"),
    ({"energy_mj_per_sample": 1.0, "batch_size": 8, "power_w": 10.0},
     "not checked: timed latency is None ms, not a positive number"),
    ({"energy_mj_per_sample": -0.5, "batch_size": 8, "latency_ms_mean": 1.0, "power_w": -4.0},  # idle-subtracted
     "not checked: energy per call is -0.5 J, not a positive number"),
    ({"energy_mj_per_sample": 1.0, "batch_size": 8, "latency_ms_mean": 1.0, "power_w": float("nan")},
     "not checked: window power is nan W, not a positive number"),
])
def test_missing_or_non_positive_figures_are_not_checked_never_flagged(row, why):
    check = check_row(row)
    assert (check.inconsistent, check.note, check.implied_power_w) == (False, why, None)


def test_reading_check_uses_the_sources_ceiling():
    # 5 W per core x 2 CPUs = 10 W ceiling. Fake process CPU time: 0 s, then 2 s over a 1 s window.
    src = CpuTimeEstimate(5.0, cpu_time=Seq(0.0, 2.0), cpu_model="Some CPU", cpus=2)
    assert src.max_power_w == 10.0
    r = measure_energy(lambda: None, src, min_window_s=1.0, clock=StepClock(0.25))
    assert (r.calls, r.seconds, r.joules, r.power_w, r.max_power_w) == (4, 1.0, 10.0, 10.0, 10.0)
    assert r.check(latency_ms_mean=250.0).inconsistent is False  # 2.5 J per call over 0.25 s = 10 W
    fast = r.check(latency_ms_mean=1.0)                          # 2.5 J in 1 ms = 2.5 kW
    assert (fast.inconsistent, fast.implied_power_w) == (True, 2500.0)
    assert "; 2500 W is above 1.5x the source's ceiling of 10 W" in fast.note
    empty = EnergyReading(joules=0.0, seconds=0.0, calls=0, source="estimate", note="")
    assert empty.check(1.0).inconsistent is False


# ---------------------------------------------------------------- GPU without NVML

def test_cpu_only_estimate_names_what_it_leaves_out():
    src = CpuOnlyEstimate(4.0, cpu_time=Seq(1.0, 3.0), reason="NVML unavailable: x", cpu_model="Some CPU", cpus=4)
    assert (src.name, src.watts_per_core, src.max_power_w) == ("estimate-cpu-only", 4.0, 16.0)
    assert src.reason == "GPU not included: NVML unavailable: x"
    assert src.note == ("estimate-cpu-only: host CPU only, 4.0 W per busy core x process CPU time; "
                        "GPU not included: NVML unavailable: x")
    assert src.read_joules() == 4.0 and src.read_joules() == 12.0


def test_every_source_name_is_in_the_vocabulary():
    names = {cls.name for cls in (NvmlEnergy, RaplEnergy, CpuTimeEstimate, CpuOnlyEstimate, GpuUtilizationEstimate)}
    assert names == set(ENERGY_SOURCES) == {"nvml", "rapl", "estimate", "estimate-cpu-only"}
