"""Energy of a workload, from the best counter this machine offers.

Three sources, tried in this order, each behind the small `EnergySource`
interface (a cumulative counter in joules):

- ``nvml``: the GPU board's total-energy counter (NVIDIA Volta and newer),
  in millijoules. Whole board, every process on it; host CPU not included.
- ``rapl``: the CPU package counters under /sys/class/powercap (Intel, and AMD
  through the same driver), in microjoules. Whole sockets, every process.
  Zones nest (core, uncore and dram inside a package; psys around them all),
  so only package zones are summed; counters wrap and are usually root-only.
- ``estimate``: this process's CPU time times a stated power per busy core.
  Not a measurement: the note says what it assumed, and why no counter was used.

Every source has `min_window_s`, the shortest window it can resolve honestly:
NVML refreshes about every 10 ms, so a 2 ms batch read alone is mostly
quantisation noise. `measure_energy` therefore repeats the workload inside one
window until the window is long enough, then divides by the number of calls.
"""
from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = [
    "EnergyUnavailable", "EnergyReading", "EnergySource", "NvmlEnergy",
    "RaplEnergy", "CpuTimeEstimate", "choose_source", "measure_energy",
]


class EnergyUnavailable(Exception):
    """A source cannot be used here; str(exc) is the reason, in one line."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy over one measuring window.

    joules: energy over the window (J); seconds: wall-clock length (s);
    calls: how many times the workload ran inside it; source: 'nvml' | 'rapl' |
    'estimate'; note: how it was obtained and what it assumed.
    """

    joules: float
    seconds: float
    calls: int
    source: str
    note: str

    @property
    def power_w(self) -> float:
        """Mean power over the window (W); 0.0 for an empty window."""
        return self.joules / self.seconds if self.seconds else 0.0


class EnergySource:
    """A cumulative energy counter. Subclasses set the three attributes."""

    name: str = ""
    note: str = ""           # goes into every result row
    min_window_s: float = 0.0  # shortest window this counter resolves honestly (s)

    def read_joules(self) -> float:
        """Counter value in joules, monotonic since the source was created."""
        raise NotImplementedError


class NvmlEnergy(EnergySource):
    """NVIDIA GPU total-energy counter (Volta+), via NVML.

    `device_index` is NVML's index, which ignores CUDA_VISIBLE_DEVICES
    (`choose_source` maps torch's index for you). `nvml` is the pynvml module,
    injectable for tests.
    """

    name = "nvml"
    min_window_s = 1.0  # counter refreshes ~every 10 ms; 100x that keeps error ~1 %

    def __init__(self, device_index: int = 0, nvml=None):
        try:
            if nvml is None:
                import pynvml as nvml  # from nvidia-ml-py
        except ImportError as exc:
            raise EnergyUnavailable(f"NVML unavailable: cannot import pynvml ({exc})") from None
        self._nvml = nvml
        self._error = getattr(nvml, "NVMLError", Exception)
        try:
            # nvmlInit is reference-counted and cheap; we never shut it down
            # because other code in the process (torch) may be using it too.
            nvml.nvmlInit()
            self._handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        except self._error as exc:
            raise EnergyUnavailable(f"NVML unavailable: {_one_line(exc)}") from None
        self.read_joules()  # pre-Volta GPUs fail here (NotSupported), not mid-sweep
        try:  # the name is only for the note; never a reason to give up
            gpu = nvml.nvmlDeviceGetName(self._handle)
            gpu = gpu.decode(errors="replace") if isinstance(gpu, bytes) else str(gpu)
        except Exception:
            gpu = ""
        label = f"GPU {device_index}" + (f" ({gpu})" if gpu else "")
        self.note = (f"nvml: total-energy counter of {label}; whole board, "
                     "all processes on it; host CPU not included")

    def read_joules(self) -> float:
        try:
            mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except self._error as exc:
            raise EnergyUnavailable(f"NVML unavailable: energy counter: {_one_line(exc)}") from None
        return mj / 1000.0  # millijoules -> joules


class RaplEnergy(EnergySource):
    """Sum of the CPU package RAPL counters under `root` (powercap sysfs).

    `read_text(path) -> str` is injectable for tests (default Path.read_text),
    because as root chmod cannot simulate the usual permission denied.
    """

    name = "rapl"
    min_window_s = 0.1  # counters update ~every 1 ms

    # Top-level zones only: 'intel-rapl:0' but not the nested 'intel-rapl:0:1'
    # (core/uncore/dram, already inside the package), nor 'intel-rapl-mmio:0',
    # which on some machines is a second view of the same package.
    _TOP_ZONE = re.compile(r"intel-rapl:\d+")

    def __init__(self, root: str | Path = "/sys/class/powercap",
                 read_text: Callable[[Path], str] | None = None):
        self._root = Path(root)
        self._read_text = read_text or (lambda p: Path(p).read_text())
        if not self._root.is_dir():
            raise EnergyUnavailable(f"RAPL not available: {self._root} does not exist")
        self._zones: list[Path] = []
        for zone in sorted(self._root.iterdir()):
            # psys (platform) contains the packages: adding it would double count.
            if self._TOP_ZONE.fullmatch(zone.name) and self._read(zone / "name").startswith("package"):
                self._zones.append(zone)
        if not self._zones:
            raise EnergyUnavailable(f"RAPL not available: no package zones under {self._root}")
        self._max_uj = {z: int(self._read(z / "max_energy_range_uj")) for z in self._zones}
        # energy_uj wraps at max_energy_range_uj: keep the last raw value per
        # zone and accumulate deltas. Reading at least once per wrap period
        # (minutes at full load) is enough; measuring windows are far shorter.
        self._last_uj = {z: self._raw(z) for z in self._zones}
        self._total_uj = 0
        names = ", ".join(z.name for z in self._zones)
        self.note = (f"rapl: CPU package counters ({names}); whole sockets, "
                     "all processes; DRAM and GPU not included")

    def _read(self, path: Path) -> str:
        try:
            return self._read_text(path).strip()
        except PermissionError:
            raise EnergyUnavailable(
                f"RAPL not readable: permission denied on {path} (usually root-only)") from None
        except OSError as exc:
            raise EnergyUnavailable(f"RAPL not readable: {path}: {exc.strerror or exc}") from None

    def _raw(self, zone: Path) -> int:
        return int(self._read(zone / "energy_uj"))

    def read_joules(self) -> float:
        for zone in self._zones:
            raw, last = self._raw(zone), self._last_uj[zone]
            # Integer microjoules, so the sum stays exact however long we run.
            self._total_uj += raw - last if raw >= last else self._max_uj[zone] - last + raw
            self._last_uj[zone] = raw
        return self._total_uj / 1e6  # microjoules -> joules


class CpuTimeEstimate(EnergySource):
    """Estimate: process CPU time (s, all threads) x a stated power per busy core (W).

    Counts neither idle/uncore/DRAM power nor other processes, and counts
    threads that spin while waiting as busy. `watts_per_core` defaults to
    env LAB_WATTS_PER_CORE, then DEFAULT_WATTS_PER_CORE.
    """

    name = "estimate"
    min_window_s = 0.1  # process_time resolves ~1 ms or better on Linux
    DEFAULT_WATTS_PER_CORE = 10.0  # a typical laptop/server core under load

    def __init__(self, watts_per_core: float | None = None,
                 cpu_time: Callable[[], float] = time.process_time, reason: str = ""):
        if watts_per_core is None:
            env = os.environ.get("LAB_WATTS_PER_CORE", "").strip()
            watts_per_core = _env_watts(env) if env else self.DEFAULT_WATTS_PER_CORE
        elif not _positive(watts_per_core):
            raise ValueError(f"watts_per_core must be a positive number of watts, got {watts_per_core!r}")
        self.watts_per_core = float(watts_per_core)
        self._cpu_time = cpu_time
        self.note = f"estimate: {self.watts_per_core} W per busy core x process CPU time"
        if reason:
            self.note += f"; {reason}"

    def read_joules(self) -> float:
        return self._cpu_time() * self.watts_per_core


def choose_source(device: str = "cpu", *, powercap_root: str | Path = "/sys/class/powercap",
                  nvml=None, watts_per_core: float | None = None,
                  read_text: Callable[[Path], str] | None = None) -> EnergySource:
    """The best energy source for `device` ('cpu', 'cuda', 'cuda:N', ...).

    Never fails for lack of a counter: it falls back to `CpuTimeEstimate`,
    whose note says why. Raises ValueError only for bad input.
    """
    device = str(device).strip()
    kind, _, index = device.partition(":")
    if not kind:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or another torch device, got {device!r}")
    if kind == "cuda":
        if index and not index.isdigit():
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        nvml_index, remap = _nvml_index(int(index or 0))
        try:
            source = NvmlEnergy(nvml_index, nvml=nvml)
        except EnergyUnavailable as exc:
            return CpuTimeEstimate(watts_per_core, reason=(
                f"{exc}; GPU energy not measured, CPU-side estimate only"))
        if remap:
            source.note += f"; {remap}"
        return source
    if kind == "cpu":
        try:
            return RaplEnergy(powercap_root, read_text=read_text)
        except EnergyUnavailable as exc:
            return CpuTimeEstimate(watts_per_core, reason=str(exc))
    return CpuTimeEstimate(watts_per_core, reason=f"no energy counter for {kind}")


def measure_energy(fn: Callable[[], object], source: EnergySource, *, min_window_s: float = 0.0,
                   max_calls: int = 1_000_000, clock: Callable[[], float] = time.perf_counter,
                   sync: Callable[[], object] | None = None) -> EnergyReading:
    """Run `fn()` repeatedly in one window and read `source` around it.

    The window lasts at least max(min_window_s, source.min_window_s) seconds by
    `clock`, or stops at `max_calls`; `fn` runs at least once. `sync` (e.g.
    torch.cuda.synchronize) is called before every clock read, so queued GPU
    work lands inside the window. Divide `joules` by `calls` for one call.
    """
    if max_calls < 1:
        raise ValueError(f"max_calls must be at least 1, got {max_calls!r}")
    target_s = max(min_window_s, source.min_window_s)

    def now() -> float:
        if sync is not None:
            sync()
        return clock()

    start = now()
    before = source.read_joules()
    calls = 0
    while True:
        fn()
        calls += 1
        end = now()
        if end - start >= target_s or calls >= max_calls:
            break
    after = source.read_joules()
    return EnergyReading(joules=after - before, seconds=end - start, calls=calls,
                         source=source.name, note=source.note)


def _nvml_index(torch_index: int) -> tuple[int, str]:
    """NVML index of torch's cuda:N, and a note when CUDA_VISIBLE_DEVICES was used.

    NVML numbers every GPU on the machine; torch numbers only the visible ones.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return torch_index, ""
    entries = [e.strip() for e in visible.split(",")]
    if all(e.isdigit() for e in entries) and torch_index < len(entries):
        return int(entries[torch_index]), ""
    return torch_index, f"CUDA_VISIBLE_DEVICES={visible!r} not mapped; assumed NVML index {torch_index}"


def _positive(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _env_watts(text: str) -> float:
    try:
        watts = float(text)
    except ValueError:
        watts = float("nan")
    if not _positive(watts):
        raise ValueError(f"LAB_WATTS_PER_CORE must be a positive number of watts per busy core "
                         f"(e.g. 10), got {text!r}")
    return watts


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{text} ({type(exc).__name__})"
