"""lab.measure.energy: choosing a source, the measuring window, idle baselines; exact under fakes."""
from pathlib import Path

import pytest

from energy_fakes import make_zone
from helpers import StepClock
from lab.measure.energy import (
    CpuTimeEstimate, EnergyReading, EnergySource, choose_source, explain, measure_energy, measure_idle_power,
)
from nvml_errors import FakeNvml


# ---------------------------------------------------------------- choosing a source

def test_choose_source_cuda_uses_nvml_and_maps_visible_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    assert choose_source("cuda:1", nvml=nvml).name == "nvml"
    assert nvml.handle_index == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    choose_source("cuda:1", nvml=nvml)
    assert nvml.handle_index == 3  # torch's cuda:1 is the machine's GPU 3


def test_choose_source_rejects_malformed_cuda_device():
    with pytest.raises(ValueError, match="device"):
        choose_source("cuda:x", nvml=FakeNvml())

def test_choose_source_cpu_prefers_rapl(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    src = choose_source("cpu", powercap_root=tmp_path)
    assert src.name == "rapl" and src.reason == "" and src.assumption == ""
    assert explain("cpu", powercap_root=tmp_path) == src.note
    assert explain("cpu", powercap_root=tmp_path).startswith("rapl: CPU counters summed (intel-rapl:0 package-0)")

def test_other_devices_get_an_estimate_with_reason():
    src = choose_source("mps", cpu_model="Apple M2")
    assert src.name == "estimate" and "no energy counter for mps" in src.note
    assert src.reason == "no energy counter for mps"
    assert explain("mps", cpu_model="Apple M2", watts_per_core=3).startswith(
        "estimate: no energy counter for mps; using 3.0 W per busy core: given by the caller")


# ---------------------------------------------------------------- measure_energy

class StepSource(EnergySource):
    name, note, min_window_s = "fake", "fake counter", 0.0

    def __init__(self):
        self.j = 0.0

    def read_joules(self):
        return self.j


def test_window_is_long_enough_and_sync_precedes_clock_reads():
    src = StepSource()
    src.min_window_s = 0.375
    events = []
    clock = StepClock(0.125)

    def tick():
        events.append("clock")
        return clock()

    def work():
        events.append("fn")
        src.j += 1.0

    r = measure_energy(work, src, clock=tick, sync=lambda: events.append("sync"))
    assert (r.calls, r.joules, r.seconds) == (3, 3.0, 0.375)
    assert events[:4] == ["sync", "clock", "fn", "sync"]
    assert events.count("sync") == events.count("clock") == 4

    # The caller's min_window_s wins when longer than the source's.
    r = measure_energy(work, src, min_window_s=1.0, clock=StepClock(0.125))
    assert (r.calls, r.seconds) == (8, 1.0)


def test_at_least_one_call_and_max_calls():
    src = StepSource()
    assert measure_energy(lambda: None, src, clock=StepClock(5.0)).calls == 1
    r = measure_energy(lambda: None, src, min_window_s=100.0, max_calls=7, clock=StepClock(1.0))
    assert (r.calls, r.seconds) == (7, 7.0)
    with pytest.raises(ValueError, match="max_calls"):
        measure_energy(lambda: None, src, max_calls=0)


def test_power_w():
    assert EnergyReading(3.0, 1.5, 2, "rapl", "n").power_w == 2.0
    assert EnergyReading(3.0, 0.0, 1, "rapl", "n").power_w == 0.0
    r = EnergyReading(3.0, 1.5, 2, "rapl", "n")
    assert (r.idle_power_w, r.assumption, r.short_window, r.gross_joules) == (None, "", False, 3.0)


class PowerSource(EnergySource):
    """A counter driven by a fake clock: `watts` x elapsed fake time, plus what work adds."""

    name, note, update_interval_s, min_window_s = "rapl", "fake rapl", 0.001, 0.1

    def __init__(self, clock, watts):
        self.clock, self.watts, self.extra = clock, watts, 0.0

    def read_joules(self):
        return self.watts * self.clock.t + self.extra


def test_idle_power_measured_while_sleeping():
    clock = StepClock(0.0)
    src = PowerSource(clock, watts=30.0)
    slept = []

    def sleep(s):  # the fake time passes only while "sleeping"
        slept.append(s)
        clock.t += s

    assert measure_idle_power(src, 2.0, clock=clock, sleep=sleep) == 30.0
    assert slept == [2.0]
    with pytest.raises(ValueError, match="idle seconds"):
        measure_idle_power(src, 0, clock=clock, sleep=sleep)


def test_idle_baseline_is_subtracted_and_recorded():
    clock = StepClock(0.0)
    src = PowerSource(clock, watts=20.0)  # the machine idles at 20 W
    src.assumption = ""

    def sleep(s):
        clock.t += s

    def work():  # 0.25 s per call at 20 W idle + 8 J of the work's own
        clock.t += 0.25
        src.extra += 8.0

    r = measure_energy(work, src, min_window_s=1.0, clock=clock, sleep=sleep, idle_baseline_s=0.5)
    assert r.idle_power_w == 20.0
    assert (r.calls, r.seconds) == (4, 1.0)
    assert r.joules == 32.0            # 4 x 8 J: idle 20 W x 1 s removed
    assert r.gross_joules == 52.0      # what the counter saw
    assert r.power_w == 32.0
    r = measure_energy(work, src, min_window_s=1.0, clock=clock, sleep=sleep)
    assert (r.idle_power_w, r.joules) == (None, 52.0)  # no baseline: nothing subtracted
    with pytest.raises(ValueError, match="idle_baseline_s.*-1"):
        measure_energy(work, src, idle_baseline_s=-1)


def test_idle_baseline_of_cpu_time_estimate_is_zero():
    # Process CPU time does not advance while the process sleeps: ~0 W idle.
    cpu, clock = {"s": 0.0}, StepClock(0.0)
    src = CpuTimeEstimate(4.0, cpu_time=lambda: cpu["s"])

    def sleep(s):
        clock.t += s  # wall time passes, CPU time does not

    def work():
        clock.t += 0.5
        cpu["s"] += 0.5

    r = measure_energy(work, src, clock=clock, sleep=sleep, idle_baseline_s=1.0)
    assert r.idle_power_w == 0.0 and r.joules == 2.0 and r.calls == 1
    assert r.assumption == src.assumption and r.assumption.startswith("4.0 W per busy core")


def test_short_window_flag_and_quick_mode():
    src = StepSource()
    src.update_interval_s, src.min_window_s = 0.01, 1.0   # NVML-like: 100 updates = 1 s
    r = measure_energy(lambda: None, src, clock=StepClock(0.25))
    assert (r.seconds, r.short_window) == (1.0, False)    # exactly 100 updates is long enough
    r = measure_energy(lambda: None, src, min_window_s=0.1, quick=True, clock=StepClock(0.0625))
    assert (r.calls, r.seconds, r.short_window) == (2, 0.125, True)  # caller's 0.1 s, not 1 s
    r = measure_energy(lambda: None, src, quick=True, clock=StepClock(0.015625))
    assert (r.calls, r.seconds) == (2, 0.03125)  # floor: 2 counter updates
    r = measure_energy(lambda: None, src, max_calls=2, clock=StepClock(0.25))
    assert (r.seconds, r.short_window) == (0.5, True)     # cut short by max_calls: flagged too


# ---------------------------------------------------------------- this machine

def test_this_machine_cpu_source_says_why():
    src = choose_source("cpu")
    line = explain("cpu")
    if src.name == "rapl":
        assert line == src.note
        pytest.skip("RAPL is readable here")
    assert src.name == "estimate" and src.note and src.reason in src.note
    assert line.startswith(f"estimate: {src.reason}; using {src.watts_per_core} W per busy core")
    assert "\n" not in line
    if not Path("/sys/class/powercap").exists():
        assert "RAPL not available: /sys/class/powercap does not exist" in line
    r = measure_energy(lambda: sum(range(1000)), src)
    assert r.calls >= 1 and r.seconds >= 0.1 and r.joules >= 0.0


def test_this_machine_cuda_source_never_fails():
    src = choose_source("cuda:0")
    assert src.name in ("nvml", "estimate", "estimate-cpu-only")
    if src.name == "estimate-cpu-only":
        assert "GPU not included: " in src.note


class FakeCounter:
    """An energy counter that adds 0.25 J per call of work(); 1 ms updates (min window 0.1 s)."""
    name, note, assumption, reason, update_interval_s, min_window_s, max_power_w = \
        "fake", "fake counter", "", "", 0.001, 0.1, None

    def __init__(self):
        self.joules = 0.0

    def read_joules(self):
        return self.joules

    def work(self):
        self.joules += 0.25


def test_an_opened_window_long_enough_is_not_run_again():
    # The timed calls already spanned the window: energy comes from them, with no extra call.
    source, clock = FakeCounter(), StepClock(0.125)
    for _ in range(8):
        source.work()
    reading = measure_energy(source.work, source, min_window_s=0.5, clock=clock, opened=(-0.375, 0.0, 8))
    assert (reading.calls, reading.joules, reading.seconds) == (8, 2.0, 0.5)


def test_a_short_opened_window_is_extended_not_repeated():
    source, clock = FakeCounter(), StepClock(0.125)
    source.work()  # one timed call, 0.125 s before the window check
    reading = measure_energy(source.work, source, min_window_s=0.5, clock=clock, opened=(0.0, 0.0, 1))
    # extended by the calls needed to reach 0.5 s (each clock read advances 0.125 s), counted with the first
    assert (reading.calls, reading.seconds) == (4, 0.5)
    assert reading.joules == 4 * 0.25


def test_an_idle_power_measured_before_the_window_is_subtracted():
    source, clock = FakeCounter(), StepClock(0.125)
    reading = measure_energy(source.work, source, min_window_s=0.25, clock=clock, opened=(0.0, 0.0, 0),
                             idle_power_w=0.5)
    # one call (0.25 J) fills the 0.25 s window; 0.5 W x 0.25 s of idle draw is taken off
    assert (reading.calls, reading.seconds, reading.idle_power_w) == (1, 0.25, 0.5)
    assert reading.joules == pytest.approx(0.25 - 0.5 * 0.25)
