"""Energy sources with fakes that have known answers: no real GPU or RAPL needed."""
from pathlib import Path

import pytest

from lab.measure.energy import (
    CpuTimeEstimate, EnergyReading, EnergySource, EnergyUnavailable, NvmlEnergy,
    RaplEnergy, choose_source, explain, measure_energy, measure_idle_power,
)


# ---------------------------------------------------------------- fakes

class FakeClock:
    """Advances `tick` seconds on every read (binary-exact ticks keep sums exact)."""

    def __init__(self, tick: float):
        self.t, self.tick, self.reads = 0.0, tick, 0

    def __call__(self) -> float:
        self.reads += 1
        self.t += self.tick
        return self.t


from nvml_errors import NVMLError, NVMLError_LibraryNotFound, NVMLError_NotSupported  # noqa: E402


class FakeNvml:
    """pynvml stand-in: the energy counter (mJ) steps `step_mj` on every read."""

    NVMLError = NVMLError

    def __init__(self, step_mj=500, init_error=None, energy_error=None, start_mj=1_000_000):
        self.mj, self.step_mj = start_mj, step_mj
        self.init_error, self.energy_error = init_error, energy_error
        self.handle_index = None

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetHandleByIndex(self, i):
        self.handle_index = i
        return ("handle", i)

    def nvmlDeviceGetName(self, handle):
        return b"Fake H100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy_error:
            raise self.energy_error
        self.mj += self.step_mj
        return self.mj


def make_zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850):
    zone = root / dirname
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int):
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


# ---------------------------------------------------------------- NVML

def test_nvml_counter_in_joules_exact_over_window():
    nvml = FakeNvml(step_mj=0)
    src = NvmlEnergy(0, nvml=nvml)
    assert src.name == "nvml" and src.min_window_s == 1.0
    assert "Fake H100" in src.note and "CPU not included" in src.note

    def work():  # each call costs exactly 500 mJ on the fake board
        nvml.mj += 500

    r = measure_energy(work, src, clock=FakeClock(0.25))
    # 1.0 s window at 0.25 s per clock read -> 4 calls -> 2000 mJ.
    assert (r.calls, r.seconds, r.joules) == (4, 1.0, 2.0)
    assert r.source == "nvml" and r.note == src.note
    assert r.power_w == 2.0


def test_nvml_counter_stepping_per_read():
    src = NvmlEnergy(0, nvml=FakeNvml(step_mj=500))
    r = measure_energy(lambda: None, src, clock=FakeClock(2.0))
    assert (r.calls, r.seconds, r.joules) == (1, 2.0, 0.5)


def test_nvml_library_not_found_falls_back_to_estimate():
    nvml = FakeNvml(init_error=NVMLError_LibraryNotFound())
    with pytest.raises(EnergyUnavailable, match="Library Not Found"):
        NvmlEnergy(0, nvml=nvml)
    src = choose_source("cuda:0", nvml=nvml)
    assert src.name == "estimate"
    assert "NVML Shared Library Not Found" in src.note
    assert "GPU energy not measured" in src.note
    assert "\n" not in src.note


def test_nvml_not_supported_on_old_gpu_fails_at_construction():
    nvml = FakeNvml(energy_error=NVMLError_NotSupported())
    with pytest.raises(EnergyUnavailable, match="Not Supported"):
        NvmlEnergy(0, nvml=nvml)
    assert choose_source("cuda", nvml=nvml).name == "estimate"


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


# ---------------------------------------------------------------- RAPL

def test_rapl_sums_package_and_dram_only(tmp_path):
    # The real layout: every zone listed flat under /sys/class/powercap.
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    core = make_zone(tmp_path, "intel-rapl:0:0", "core", 500_000)      # inside the package
    uncore = make_zone(tmp_path, "intel-rapl:0:1", "uncore", 100_000)  # inside the package
    dram = make_zone(tmp_path, "intel-rapl:0:2", "dram", 200_000)      # NOT inside the package
    psys = make_zone(tmp_path, "intel-rapl:1", "psys", 0)              # contains everything
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)    # second view of the package
    (tmp_path / "intel-rapl").mkdir()                                  # the control type, not a zone
    src = RaplEnergy(tmp_path)
    assert (src.name, src.update_interval_s, src.min_window_s, src.assumption) == ("rapl", 0.001, 0.1, "")
    assert src.read_joules() == 0.0
    set_energy(pkg, 4_000_000)     # +3 J
    set_energy(core, 2_500_000)    # +2 J, already in the package's 3 J
    set_energy(uncore, 600_000)    # +0.5 J, already in the package's 3 J
    set_energy(dram, 1_200_000)    # +1 J
    set_energy(psys, 99_000_000)   # +99 J, would double count
    set_energy(mmio, 4_000_000)    # +4 J, would double count
    assert src.read_joules() == 4.0  # package 3 J + dram 1 J
    assert "intel-rapl:0 package-0, intel-rapl:0:2 dram" in src.note
    assert "core" not in src.note and "psys" not in src.note
    assert "mmio" not in src.note and "DRAM not measured" not in src.note


def test_rapl_two_packages_summed_and_psys_ignored(tmp_path):
    p0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    p1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 10)
    psys = make_zone(tmp_path, "intel-rapl:2", "psys", 0)
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)  # second view of p0
    src = RaplEnergy(tmp_path)
    for zone, uj in [(p0, 1_500_000), (p1, 2_500_010), (psys, 99_000_000), (mmio, 1_500_000)]:
        set_energy(zone, uj)
    assert src.read_joules() == 4.0
    assert "(intel-rapl:0 package-0, intel-rapl:1 package-1)" in src.note
    assert "DRAM not measured (no dram zone)" in src.note


def test_rapl_dram_of_each_package_summed_in_socket_order(tmp_path):
    p1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 0)
    d1 = make_zone(tmp_path, "intel-rapl:1:0", "dram", 0)
    p0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    d0 = make_zone(tmp_path, "intel-rapl:0:0", "dram", 0)
    orphan = make_zone(tmp_path, "intel-rapl:2:0", "dram", 0)  # no package 2 beside it: not summed
    src = RaplEnergy(tmp_path)
    for zone, uj in [(p0, 1_000_000), (d0, 250_000), (p1, 2_000_000), (d1, 500_000), (orphan, 7_000_000)]:
        set_energy(zone, uj)
    assert src.read_joules() == 3.75
    assert ("(intel-rapl:0 package-0, intel-rapl:0:0 dram, intel-rapl:1 package-1, "
            "intel-rapl:1:0 dram)") in src.note


def test_rapl_wraparound_is_exact(tmp_path):
    max_uj = 1_000_000_000
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", max_uj - 250_000, max_uj)
    src = RaplEnergy(tmp_path)
    set_energy(pkg, 750_000)  # wrapped once: 250_000 up to max, then 750_000
    assert src.read_joules() == 1.0
    set_energy(pkg, 2_750_000)
    assert src.read_joules() == 3.0  # keeps accumulating after the wrap


def test_rapl_wraparound_per_zone(tmp_path):
    # The dram counter has its own, smaller range and wraps; the package does not.
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 5_000_000, 262_143_328_850)
    dram = make_zone(tmp_path, "intel-rapl:0:0", "dram", 65_000_000, 65_532_610_987 // 1000)
    src = RaplEnergy(tmp_path)
    set_energy(pkg, 6_000_000)                      # +1 J
    set_energy(dram, 1_000_000)                     # wrapped at 65_532_610 uJ
    assert src.read_joules() == (1_000_000 + (65_532_610 - 65_000_000) + 1_000_000) / 1e6


def test_rapl_garbage_counter_is_unavailable_with_path(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (pkg / "energy_uj").write_text("n/a\n")
    with pytest.raises(EnergyUnavailable, match=r"energy_uj holds 'n/a'"):
        RaplEnergy(tmp_path)


def test_rapl_measure_energy_over_window(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    state = {"uj": 0}

    def work():  # 0.2 J per call
        state["uj"] += 200_000
        set_energy(pkg, state["uj"])

    r = measure_energy(work, RaplEnergy(tmp_path), min_window_s=0.5, clock=FakeClock(0.125))
    assert (r.calls, r.seconds, r.joules) == (4, 0.5, 0.8)
    assert r.source == "rapl"


def test_rapl_permission_denied_falls_back_to_estimate(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)

    def read_text(path):  # root can read anything, so chmod can't simulate this
        if Path(path).name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).read_text()

    with pytest.raises(EnergyUnavailable, match="permission denied on .*energy_uj"):
        RaplEnergy(tmp_path, read_text=read_text)
    src = choose_source("cpu", powercap_root=tmp_path, read_text=read_text, cpu_model="Some CPU")
    assert src.name == "estimate"
    assert "permission denied" in src.note and "root-only" in src.note
    assert explain("cpu", powercap_root=tmp_path, read_text=read_text, cpu_model="Some CPU") == (
        f"estimate: RAPL not readable: permission denied on {tmp_path / 'intel-rapl:0' / 'energy_uj'} "
        "(usually root-only); using 10.0 W per busy core: default for a CPU not in the table (Some CPU); "
        "set LAB_WATTS_PER_CORE to override")


def test_rapl_missing_root_or_no_packages(tmp_path):
    src = choose_source("cpu", powercap_root=tmp_path / "nope")
    assert src.name == "estimate" and "does not exist" in src.note
    make_zone(tmp_path, "intel-rapl:0", "psys", 0)
    with pytest.raises(EnergyUnavailable, match="no package zones"):
        RaplEnergy(tmp_path)


def test_choose_source_cpu_prefers_rapl(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    src = choose_source("cpu", powercap_root=tmp_path)
    assert src.name == "rapl" and src.reason == "" and src.assumption == ""
    assert explain("cpu", powercap_root=tmp_path) == src.note
    assert explain("cpu", powercap_root=tmp_path).startswith("rapl: CPU counters summed (intel-rapl:0 package-0)")


# ---------------------------------------------------------------- estimate

def test_estimate_arithmetic(monkeypatch):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    cpu = {"s": 0.0}
    src = CpuTimeEstimate(cpu_time=lambda: cpu["s"], cpu_model="QEMU Virtual CPU version 2.5+")
    assert src.watts_per_core == CpuTimeEstimate.DEFAULT_WATTS_PER_CORE == 10.0
    assert src.note == "estimate: 10.0 W per busy core x process CPU time"
    assert src.assumption == ("10.0 W per busy core: default for a CPU not in the table "
                              "(QEMU Virtual CPU version 2.5+); set LAB_WATTS_PER_CORE to override")

    def work():  # 2.5 s of CPU time across all threads
        cpu["s"] += 2.5

    r = measure_energy(work, src, clock=FakeClock(1.0))
    assert (r.calls, r.joules, r.seconds, r.source) == (1, 25.0, 1.0, "estimate")
    assert r.power_w == 25.0


def test_estimate_watts_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("LAB_WATTS_PER_CORE", "4")
    src = CpuTimeEstimate(cpu_time=lambda: 2.5, reason="why", cpu_model="Intel(R) Core(TM) i7-1185G7")
    assert src.read_joules() == 10.0  # env beats the table (7 W for this CPU)
    assert src.note == "estimate: 4.0 W per busy core x process CPU time; why"
    assert src.assumption == "4.0 W per busy core: set by LAB_WATTS_PER_CORE"
    arg = CpuTimeEstimate(6.0, cpu_time=lambda: 2.0)
    assert arg.read_joules() == 12.0  # argument wins over env
    assert arg.assumption == "6.0 W per busy core: given by the caller (watts_per_core)"


@pytest.mark.parametrize("model, watts, assumption", [
    ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 7.0,
     "7.0 W per busy core: Intel Core i7-1185G7 TDP 28 W / 4 cores (Intel ark)"),
    ("AMD EPYC 7763 64-Core Processor", 4.375,
     "4.38 W per busy core: AMD EPYC 7763 TDP 280 W / 64 cores (AMD product page)"),
    ("Intel(R) Xeon(R) Platinum 8480+", 6.25,
     "6.25 W per busy core: Intel Xeon Platinum 8480+ TDP 350 W / 56 cores (Intel ark)"),
])
def test_estimate_table_hit(monkeypatch, model, watts, assumption):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    src = CpuTimeEstimate(cpu_time=lambda: 2.0, cpu_model=model)
    assert src.watts_per_core == watts
    assert src.read_joules() == 2.0 * watts
    assert src.assumption == assumption + "; set LAB_WATTS_PER_CORE to override"


def test_estimate_unknown_server_cpu_gets_default(monkeypatch):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    # EPYC 9R14 is an AWS-only part: not the 9654 or 9554 in the table.
    src = CpuTimeEstimate(cpu_time=lambda: 1.0, cpu_model="AMD EPYC 9R14 96-Core Processor")
    assert src.watts_per_core == 10.0
    assert "default for a CPU not in the table (AMD EPYC 9R14 96-Core Processor)" in src.assumption


@pytest.mark.parametrize("value", ["abc", "0", "-3", "nan", "inf"])
def test_estimate_invalid_env_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("LAB_WATTS_PER_CORE", value)
    with pytest.raises(ValueError, match="LAB_WATTS_PER_CORE.*positive"):
        CpuTimeEstimate()


@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_estimate_invalid_argument_names_the_field(value):
    with pytest.raises(ValueError, match="watts_per_core"):
        CpuTimeEstimate(value)


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
    clock = FakeClock(0.125)

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
    r = measure_energy(work, src, min_window_s=1.0, clock=FakeClock(0.125))
    assert (r.calls, r.seconds) == (8, 1.0)


def test_at_least_one_call_and_max_calls():
    src = StepSource()
    assert measure_energy(lambda: None, src, clock=FakeClock(5.0)).calls == 1
    r = measure_energy(lambda: None, src, min_window_s=100.0, max_calls=7, clock=FakeClock(1.0))
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
    clock = FakeClock(0.0)
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
    clock = FakeClock(0.0)
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
    cpu, clock = {"s": 0.0}, FakeClock(0.0)
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
    r = measure_energy(lambda: None, src, clock=FakeClock(0.25))
    assert (r.seconds, r.short_window) == (1.0, False)    # exactly 100 updates is long enough
    r = measure_energy(lambda: None, src, min_window_s=0.1, quick=True, clock=FakeClock(0.0625))
    assert (r.calls, r.seconds, r.short_window) == (2, 0.125, True)  # caller's 0.1 s, not 1 s
    r = measure_energy(lambda: None, src, quick=True, clock=FakeClock(0.015625))
    assert (r.calls, r.seconds) == (2, 0.03125)  # floor: 2 counter updates
    r = measure_energy(lambda: None, src, max_calls=2, clock=FakeClock(0.25))
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
    assert src.name in ("nvml", "estimate")
    if src.name == "estimate":
        assert "GPU energy not measured" in src.note
