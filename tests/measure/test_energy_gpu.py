"""GPU energy sources against a fake pynvml with known answers: counter, power
sampling (pre-Volta), utilization x TDP, and the fallbacks between them."""
import threading
from types import SimpleNamespace

import pytest

from lab.measure.energy import (
    EnergyUnavailable, GpuUtilizationEstimate, NvmlEnergy, NvmlPowerSampling,
    CpuOnlyEstimate, choose_source, explain, measure_energy,
)
from lab.measure.sampling import SampledEnergy


from nvml_errors import NVMLError, NVMLError_LibraryNotFound, NVMLError_NotSupported  # noqa: E402


class FakeNvml:
    """pynvml stand-in. Each reading is a value, or an exception to raise.

    energy_mj: counter (mJ), stepping `step_mj` per read; power_mw: board power
    (mW); util: GPU utilization (%); limit_mw: default power limit (mW).
    """

    NVMLError = NVMLError

    def __init__(self, name=b"Tesla P100-PCIE-16GB", energy_mj=NVMLError_NotSupported(), step_mj=0,
                 power_mw=NVMLError_NotSupported(), util=NVMLError_NotSupported(),
                 limit_mw=NVMLError_NotSupported(), init_error=None):
        self.name, self.energy_mj, self.step_mj = name, energy_mj, step_mj
        self.power_mw, self.util, self.limit_mw, self.init_error = power_mw, util, limit_mw, init_error
        self.power_reads = 0

    @staticmethod
    def _value(v):
        if isinstance(v, BaseException):
            raise v
        return v

    def nvmlInit(self):
        self._value(self.init_error)

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("handle", i)

    def nvmlDeviceGetName(self, handle):
        return self.name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        self._value(self.energy_mj)
        self.energy_mj += self.step_mj
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        self.power_reads += 1
        return self._value(self.power_mw)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self._value(self.util), memory=0)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle):
        return self._value(self.limit_mw)


class Clock:
    """A clock the test sets by hand (s)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# ---------------------------------------------------------------- counter (Volta+)

def test_counter_steps_known_amount_per_read():
    nvml = FakeNvml(name=b"NVIDIA H100", energy_mj=1_000_000, step_mj=250)
    src = choose_source("cuda:0", nvml=nvml)
    assert isinstance(src, NvmlEnergy)
    assert (src.update_interval_s, src.min_window_s, src.assumption, src.reason) == (0.01, 1.0, "", "")
    assert src.read_joules() == 1_000.5  # third read: 1_000_000 + 2 x 250 mJ
    assert src.read_joules() - src.read_joules() == -0.25
    assert explain("cuda:0", nvml=FakeNvml(name=b"NVIDIA H100", energy_mj=0)) == (
        "nvml: total-energy counter of GPU 0 (NVIDIA H100); whole board, all processes on it; "
        "host CPU not included")


# ---------------------------------------------------------------- power sampling (pre-Volta)

def test_pre_volta_power_sampling_exact_joules_under_fake_clock():
    nvml = FakeNvml(power_mw=100_000)
    clock = Clock()
    src = NvmlPowerSampling(0, nvml=nvml, clock=clock, background=False)
    assert (src.name, src.update_interval_s, src.min_window_s, src.assumption) == ("nvml", 0.01, 1.0, "")
    assert "sampled every 10 ms" in src.note and "Tesla P100-PCIE-16GB" in src.note
    assert src.read_joules() == 0.0        # opens the window at t = 0, 100 W
    clock.t, nvml.power_mw = 0.5, 200_000
    src.sample()                           # trapezoid 0-0.5 s: (100 + 200) / 2 x 0.5 = 75 J
    clock.t = 1.5
    assert src.read_joules() == 275.0      # + 200 W x 1 s
    assert src.samples == 3


def test_choose_source_pre_volta_uses_power_sampling_with_reason():
    nvml = FakeNvml(power_mw=50_000)
    src = choose_source("cuda", nvml=nvml)
    try:
        assert isinstance(src, NvmlPowerSampling) and src.name == "nvml"
        assert src.reason == "NVML energy counter not readable: Not Supported (NVMLError_NotSupported)"
        assert src.note.endswith("; " + src.reason)
        assert explain("cuda", nvml=nvml) == (
            "nvml: power of GPU 0 (Tesla P100-PCIE-16GB) sampled every 10 ms and integrated (no energy "
            "counter on this GPU); whole board, all processes on it; host CPU not included; "
            "NVML energy counter not readable: Not Supported (NVMLError_NotSupported)")
    finally:
        src.close()


def test_measure_energy_with_power_sampling_is_exact():
    nvml = FakeNvml(power_mw=80_000)
    sampler_clock = Clock()
    src = NvmlPowerSampling(0, nvml=nvml, clock=sampler_clock, background=False)

    def work():  # every call takes 0.25 s of the sampler's time at 80 W
        sampler_clock.t += 0.25

    window_clock = iter([0.0, 0.25, 0.5, 0.75, 1.0])
    r = measure_energy(work, src, clock=lambda: next(window_clock))
    assert (r.calls, r.seconds, r.joules, r.source, r.short_window) == (4, 1.0, 80.0, "nvml", False)


class SteppedSleep:
    """sleep() for the sampler thread: blocks until the test lets one period pass."""

    def __init__(self, clock):
        self.clock = clock
        self.asleep = threading.Semaphore(0)  # released by the thread as it goes to sleep
        self.wake = threading.Semaphore(0)    # released by the test to end one sleep
        self.free = False                     # True: sleeps return at once (to let close() join)

    def __call__(self, seconds):
        if self.free:
            return
        self.asleep.release()
        assert self.wake.acquire(timeout=5)

    def close(self, src):
        """Close `src` without waiting: fake time stands still, so extra samples add 0 J."""
        self.free = True
        self.wake.release()
        src.close()

    def step(self, seconds):
        """Wait until the thread sleeps (its last sample done), advance time, wake it."""
        assert self.asleep.acquire(timeout=5)
        self.clock.t += seconds
        self.wake.release()

    def settle(self):
        """Wait until the thread has finished its sample and sleeps again."""
        assert self.asleep.acquire(timeout=5)
        self.asleep.release()


def test_background_thread_samples_every_period_and_stops_on_close():
    nvml = FakeNvml(power_mw=100_000)
    clock = Clock()
    sleeper = SteppedSleep(clock)
    src = NvmlPowerSampling(0, nvml=nvml, period_s=0.02, clock=clock, sleep=sleeper)
    assert nvml.power_reads == 1            # the probe at construction; no thread yet
    assert src.read_joules() == 0.0         # first read opens: sample at t = 0, thread starts
    for power_w in (100, 300):
        nvml.power_mw = power_w * 1000
        sleeper.step(0.5)                   # the thread samples at t = 0.5, then t = 1.0
        sleeper.settle()
    assert src.samples == 3
    # 0-0.5 s at 100 W = 50 J; 0.5-1.0 s: 100 -> 300 W = 100 J; read at 1.0 adds nothing.
    assert src.read_joules() == 150.0
    thread = src._thread
    sleeper.close(src)
    assert src._thread is None and not thread.is_alive()
    clock.t = 10.0                          # time after close is not counted:
    assert src.read_joules() == 150.0       # this read reopens, starting a new segment at t = 10
    clock.t = 11.0
    assert src.read_joules() == 450.0       # 300 W x 1 s inside the new segment
    sleeper.close(src)


def test_sampler_error_in_thread_is_reported_by_next_read():
    nvml = FakeNvml(power_mw=100_000)
    clock = Clock()
    sleeper = SteppedSleep(clock)
    src = NvmlPowerSampling(0, nvml=nvml, clock=clock, sleep=sleeper)
    src.read_joules()
    nvml.power_mw = NVMLError("GPU is lost")
    sleeper.step(0.01)
    src._thread.join(timeout=5)             # the thread stops on the error
    assert not src._thread.is_alive()
    with pytest.raises(EnergyUnavailable, match="power sampling failed: .*GPU is lost"):
        src.read_joules()
    sleeper.close(src)


def test_sampled_energy_rejects_bad_period():
    with pytest.raises(ValueError, match="period_s must be a positive number of seconds, got 0"):
        SampledEnergy(lambda: 1.0, period_s=0)


# ---------------------------------------------------------------- utilization x TDP

def test_utilization_estimate_arithmetic_with_nvml_power_limit():
    nvml = FakeNvml(util=50, limit_mw=250_000)
    clock = Clock()
    src = GpuUtilizationEstimate(0, nvml=nvml, clock=clock, background=False)
    assert (src.name, src.tdp_w) == ("estimate", 250.0)
    assert src.update_interval_s == pytest.approx(1 / 6) and src.min_window_s == pytest.approx(100 / 6)
    assert src.assumption == ("GPU utilization x 250 W TDP (NVML default power limit of GPU 0 "
                              "(Tesla P100-PCIE-16GB)); idle power not included; any running kernel "
                              "counts as full load")
    src.read_joules()
    clock.t = 2.0
    assert src.read_joules() == 250.0       # mean 50 % x 250 W x 2 s
    nvml.util = 100
    clock.t = 3.0
    assert src.read_joules() == 437.5       # + (50 + 100) / 2 % x 250 W x 1 s


def test_utilization_estimate_tdp_from_table_or_argument():
    nvml = FakeNvml(name=b"Tesla K80", util=20)
    src = GpuUtilizationEstimate(0, nvml=nvml, background=False)
    assert src.tdp_w == 150.0 and "300 W per board of 2 GPUs" in src.assumption
    src = GpuUtilizationEstimate(0, nvml=nvml, tdp_w=90, background=False)
    assert src.tdp_w == 90.0 and "(given by the caller (tdp_w))" in src.assumption
    with pytest.raises(ValueError, match="tdp_w must be a positive number of watts, got -5"):
        GpuUtilizationEstimate(0, nvml=nvml, tdp_w=-5)


def test_choose_source_no_power_reading_uses_utilization_estimate():
    nvml = FakeNvml(name=b"GeForce GTX 1080", util=10)
    src = choose_source("cuda:0", nvml=nvml)
    try:
        assert isinstance(src, GpuUtilizationEstimate) and src.tdp_w == 180.0
        assert src.reason == ("NVML energy counter not readable: Not Supported (NVMLError_NotSupported); "
                              "NVML power reading not readable: Not Supported (NVMLError_NotSupported)")
        assert explain("cuda:0", nvml=nvml) == (
            f"estimate: {src.reason}; using GPU utilization x 180 W TDP (NVIDIA product page); "
            "idle power not included; any running kernel counts as full load")
    finally:
        src.close()


def test_no_counter_power_utilization_or_tdp_falls_back_to_cpu_side_estimate():
    nvml = FakeNvml(name=b"Mystery GPU", util=10)  # no power limit, not in the table
    src = choose_source("cuda:0", nvml=nvml, cpu_model="Some CPU", watts_per_core=5)
    assert isinstance(src, CpuOnlyEstimate) and src.watts_per_core == 5.0
    assert src.name == "estimate-cpu-only"  # never the label of a complete CPU estimate
    assert src.reason == (
        "GPU not included: "
        "NVML energy counter not readable: Not Supported (NVMLError_NotSupported); "
        "NVML power reading not readable: Not Supported (NVMLError_NotSupported); "
        "no TDP for GPU 0 (Mystery GPU): NVML has no power limit and the name is not in the table")
    assert src.note == "estimate-cpu-only: host CPU only, 5.0 W per busy core x process CPU time; " + src.reason


def test_library_not_found_falls_back_with_reason():
    nvml = FakeNvml(init_error=NVMLError_LibraryNotFound())
    with pytest.raises(EnergyUnavailable, match="NVML unavailable: NVML Shared Library Not Found"):
        NvmlPowerSampling(0, nvml=nvml)
    line = explain("cuda:1", nvml=nvml, cpu_model="Some CPU")
    assert line == ("estimate-cpu-only: GPU not included: NVML unavailable: NVML Shared Library Not Found "
                    "(NVMLError_LibraryNotFound); using 10.0 W per busy core: default "
                    "for a CPU not in the table (Some CPU); set LAB_WATTS_PER_CORE to override")
    src = choose_source("cuda:1", nvml=nvml, cpu_model="Some CPU")
    assert src.note == ("estimate-cpu-only: host CPU only, 10.0 W per busy core x process CPU time; GPU not "
                        "included: NVML unavailable: NVML Shared Library Not Found (NVMLError_LibraryNotFound)")


def test_pynvml_not_installed_says_gpu_not_included(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    src = choose_source("cuda:0", cpu_model="Some CPU", watts_per_core=4)
    assert src.name == "estimate-cpu-only"
    assert src.reason == "GPU not included: NVML unavailable: cannot import pynvml (No module named 'pynvml')"


def test_gpu_sources_know_their_power_ceiling():
    nvml = FakeNvml(energy_mj=0, limit_mw=300_000)
    assert choose_source("cuda:0", nvml=nvml).max_power_w == 300.0  # default limit, as NVML reports it

    class Capped(FakeNvml):
        def nvmlDeviceGetEnforcedPowerLimit(self, handle):
            return 200_000  # capped below the default by an administrator: the cap is the ceiling

    assert choose_source("cuda:0", nvml=Capped(energy_mj=0, limit_mw=300_000)).max_power_w == 200.0
    assert choose_source("cuda:0", nvml=FakeNvml(energy_mj=0)).max_power_w is None  # no limit readable
    util = GpuUtilizationEstimate(0, nvml=FakeNvml(util=50), tdp_w=150, background=False)
    assert util.max_power_w == 150.0  # utilization x TDP never exceeds the TDP


def test_power_sampling_reading_checked_against_timing_and_board_limit():
    nvml = FakeNvml(power_mw=100_000, limit_mw=250_000)
    clock = Clock()

    def work():  # each call: 0.25 s at 100 W
        clock.t += 0.25

    src = NvmlPowerSampling(0, nvml=nvml, clock=clock, background=False)
    r = measure_energy(work, src, clock=clock)
    assert (r.calls, r.seconds, r.joules, r.max_power_w) == (4, 1.0, 100.0, 250.0)
    assert r.check(latency_ms_mean=250.0).inconsistent is False
    late = r.check(latency_ms_mean=2.5)  # timed calls 100x faster than the window's: 10 kW implied
    assert late.inconsistent and late.implied_power_w == 10_000.0
    assert late.note.endswith("; 10000 W is above 1.5x the source's ceiling of 250 W")


def test_old_pynvml_without_a_function_is_a_reason_not_a_crash():
    class OldNvml(FakeNvml):
        nvmlDeviceGetPowerUsage = None  # as if this pynvml predates it

    with pytest.raises(EnergyUnavailable, match="this pynvml has no nvmlDeviceGetPowerUsage"):
        NvmlPowerSampling(0, nvml=OldNvml(power_mw=1000))
