"""Energy sources with fakes that have known answers: no real GPU or RAPL needed."""
from pathlib import Path

import pytest

from lab.measure.energy import (
    CpuTimeEstimate, EnergyReading, EnergySource, EnergyUnavailable, NvmlEnergy,
    RaplEnergy, choose_source, measure_energy,
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


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self):
        return "NVML Shared Library Not Found"


class NVMLError_NotSupported(NVMLError):
    def __str__(self):
        return "Not Supported"


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

def test_rapl_package_with_subzones_is_not_double_counted(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    core = make_zone(tmp_path, "intel-rapl:0:0", "core", 500_000)
    dram = make_zone(tmp_path, "intel-rapl:0:1", "dram", 200_000)
    src = RaplEnergy(tmp_path)
    assert src.name == "rapl" and src.min_window_s == 0.1
    assert src.read_joules() == 0.0
    set_energy(pkg, 4_000_000)
    set_energy(core, 2_500_000)
    set_energy(dram, 1_200_000)
    assert src.read_joules() == 3.0  # package only


def test_rapl_two_packages_summed_and_psys_ignored(tmp_path):
    p0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    p1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 10)
    psys = make_zone(tmp_path, "intel-rapl:2", "psys", 0)
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)  # second view of p0
    src = RaplEnergy(tmp_path)
    for zone, uj in [(p0, 1_500_000), (p1, 2_500_010), (psys, 99_000_000), (mmio, 1_500_000)]:
        set_energy(zone, uj)
    assert src.read_joules() == 4.0
    assert "intel-rapl:0, intel-rapl:1" in src.note


def test_rapl_wraparound_is_exact(tmp_path):
    max_uj = 1_000_000_000
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", max_uj - 250_000, max_uj)
    src = RaplEnergy(tmp_path)
    set_energy(pkg, 750_000)  # wrapped once: 250_000 up to max, then 750_000
    assert src.read_joules() == 1.0
    set_energy(pkg, 2_750_000)
    assert src.read_joules() == 3.0  # keeps accumulating after the wrap


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
    src = choose_source("cpu", powercap_root=tmp_path, read_text=read_text)
    assert src.name == "estimate"
    assert "permission denied" in src.note and "root-only" in src.note


def test_rapl_missing_root_or_no_packages(tmp_path):
    src = choose_source("cpu", powercap_root=tmp_path / "nope")
    assert src.name == "estimate" and "does not exist" in src.note
    make_zone(tmp_path, "intel-rapl:0", "psys", 0)
    with pytest.raises(EnergyUnavailable, match="no package zones"):
        RaplEnergy(tmp_path)


def test_choose_source_cpu_prefers_rapl(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    assert choose_source("cpu", powercap_root=tmp_path).name == "rapl"


# ---------------------------------------------------------------- estimate

def test_estimate_arithmetic(monkeypatch):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    cpu = {"s": 0.0}
    src = CpuTimeEstimate(cpu_time=lambda: cpu["s"])
    assert src.watts_per_core == CpuTimeEstimate.DEFAULT_WATTS_PER_CORE == 10.0
    assert src.note == "estimate: 10.0 W per busy core x process CPU time"

    def work():  # 2.5 s of CPU time across all threads
        cpu["s"] += 2.5

    r = measure_energy(work, src, clock=FakeClock(1.0))
    assert (r.calls, r.joules, r.seconds, r.source) == (1, 25.0, 1.0, "estimate")
    assert r.power_w == 25.0


def test_estimate_watts_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("LAB_WATTS_PER_CORE", "4")
    src = CpuTimeEstimate(cpu_time=lambda: 2.5, reason="why")
    assert src.read_joules() == 10.0
    assert src.note == "estimate: 4.0 W per busy core x process CPU time; why"
    assert CpuTimeEstimate(6.0, cpu_time=lambda: 2.0).read_joules() == 12.0  # argument wins


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
    src = choose_source("mps")
    assert src.name == "estimate" and "no energy counter for mps" in src.note


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


# ---------------------------------------------------------------- this machine

def test_this_machine_cpu_source_says_why():
    src = choose_source("cpu")
    if src.name == "rapl":
        pytest.skip("RAPL is readable here")
    assert src.name == "estimate" and src.note
    r = measure_energy(lambda: sum(range(1000)), src)
    assert r.calls >= 1 and r.seconds >= 0.1 and r.joules >= 0.0


def test_this_machine_cuda_source_never_fails():
    src = choose_source("cuda:0")
    assert src.name in ("nvml", "estimate")
    if src.name == "estimate":
        assert "GPU energy not measured" in src.note
