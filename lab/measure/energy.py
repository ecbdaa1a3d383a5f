"""Energy of a workload, from the best counter this machine offers.

Sources, each behind the small `EnergySource` interface (a cumulative counter
in joules; see lab/measure/energy_source.py), and docs/energy.md:

- ``nvml`` (lab/measure/nvml.py): the GPU board's total-energy counter (Volta
  and newer); on older GPUs, board power sampled every 10 ms and integrated.
  Whole board, every process on it; host CPU not included.
- ``rapl`` (lab/measure/rapl.py): the CPU package counters plus their DRAM
  subzones under /sys/class/powercap. Whole sockets, every process. Usually
  root-only.
- ``estimate`` (lab/measure/estimate.py, nvml.py): process CPU time x watts per
  busy core (from the CPU's TDP), or GPU utilization x TDP. Not a measurement:
  `assumption` says what it assumed, `reason` why no counter was used.
- ``estimate-cpu-only`` (estimate.py): a GPU device whose GPU side NVML cannot
  read: the CPU-time estimate of the host side only; GPU not included.

A window should span at least 100 counter updates (`WINDOW_UPDATES`), so
`measure_energy` repeats the workload inside one window until it is long
enough, then the caller divides by the number of calls. Quick mode may stop
sooner; such readings are flagged `short_window`.

The energy window is not the timing window, so a reading can describe a
different run from the latency beside it (a neighbour's load in one window
only). `check_energy` tests what can be tested honestly: that energy per call
agrees with the window's power x the timed latency, and that the implied power
is not far above what the source can read (`max_power_w`). It cannot tell a
right reading from a wrong one that is self-consistent and plausible.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lab.measure.energy_source import (
    ENERGY_SOURCES, WINDOW_UPDATES, EnergySource, EnergyUnavailable,
)
from lab.measure.energy_check import (  # noqa: F401 — re-exported: the check of every reading
    ENERGY_TIME_TOLERANCE, POWER_CEILING_FACTOR, EnergyCheck, check_energy, check_row, energy_consistent,
)
from lab.measure.estimate import CpuOnlyEstimate, CpuTimeEstimate
from lab.measure.nvml import GpuUtilizationEstimate, NvmlEnergy, NvmlGpu, NvmlPowerSampling
from lab.measure.rapl import RaplEnergy

__all__ = [
    "EnergyUnavailable", "EnergyReading", "EnergySource", "NvmlEnergy", "NvmlPowerSampling",
    "GpuUtilizationEstimate", "RaplEnergy", "CpuTimeEstimate", "CpuOnlyEstimate", "choose_source", "explain",
    "describe", "measure_energy", "measure_idle_power", "WINDOW_UPDATES", "ENERGY_SOURCES",
    "ENERGY_TIME_TOLERANCE", "POWER_CEILING_FACTOR", "EnergyCheck", "energy_consistent", "check_energy",
    "check_row",
]

@dataclass(frozen=True)
class EnergyReading:
    """Energy over one measuring window.

    joules: energy over the window (J), less idle_power_w x seconds when a
    baseline was taken; seconds: wall-clock length (s); calls: how many times
    the workload ran inside it; source: a key of ENERGY_SOURCES; note: how
    it was obtained; idle_power_w: idle power measured just before the window
    and subtracted (W), None without a baseline; assumption: what an estimate
    assumed ("" for a counter); short_window: True when the window was shorter
    than WINDOW_UPDATES counter updates; max_power_w: the source's ceiling (W),
    None when unknown.
    """

    joules: float
    seconds: float
    calls: int
    source: str
    note: str
    idle_power_w: float | None = None
    assumption: str = ""
    short_window: bool = False
    max_power_w: float | None = None

    @property
    def power_w(self) -> float:
        """Mean power over the window (W), net of idle when a baseline was taken; 0.0 for an empty window."""
        return self.joules / self.seconds if self.seconds else 0.0

    @property
    def gross_joules(self) -> float:
        """Energy over the window before the idle baseline was subtracted (J)."""
        return self.joules + (self.idle_power_w or 0.0) * self.seconds

    def check(self, latency_ms_mean: float, tolerance: float = ENERGY_TIME_TOLERANCE) -> EnergyCheck:
        """`check_energy` of this reading against the timing window's mean latency of one call (ms)."""
        per_call = self.joules / self.calls if self.calls else float("nan")
        return check_energy(per_call, latency_ms_mean, self.power_w, max_power_w=self.max_power_w,
                            tolerance=tolerance)


def choose_source(device: str = "cpu", *, powercap_root: str | Path = "/sys/class/powercap",
                  nvml=None, watts_per_core: float | None = None,
                  read_text: Callable[[Path], str] | None = None,
                  cpu_model: str | None = None) -> EnergySource:
    """The best energy source for `device` ('cpu', 'cuda', 'cuda:N', ...).

    cpu: RAPL, else the CPU-time estimate. cuda: the NVML energy counter, else
    NVML power sampling, else GPU utilization x TDP, else `CpuOnlyEstimate`
    ('estimate-cpu-only': the host side, GPU not included; see its docstring
    for why a labelled partial figure rather than none). Never fails for lack of a counter: the source's
    `reason` (also in its note) says why a better one was not used. Raises
    ValueError only for bad input.
    """
    device = str(device).strip()
    kind, _, index = device.partition(":")
    if not kind:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or another torch device, got {device!r}")

    def cpu_estimate(reason: str) -> CpuTimeEstimate:
        return CpuTimeEstimate(watts_per_core, reason=reason, cpu_model=cpu_model)

    if kind == "cuda":
        if index and not index.isdigit():
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        nvml_index, remap = _nvml_index(int(index or 0))
        def cpu_only(reason: str) -> CpuOnlyEstimate:
            return CpuOnlyEstimate(watts_per_core, reason=reason, cpu_model=cpu_model)

        try:
            NvmlGpu(nvml_index, nvml)
        except EnergyUnavailable as exc:
            return cpu_only(str(exc))
        why: list[str] = []
        for make in (NvmlEnergy, NvmlPowerSampling, GpuUtilizationEstimate):
            try:
                source = make(nvml_index, nvml=nvml, reason="; ".join(why))
            except EnergyUnavailable as exc:
                why.append(str(exc))
                continue
            if remap:
                source.note += f"; {remap}"
            return source
        return cpu_only("; ".join(why))
    if kind == "cpu":
        try:
            return RaplEnergy(powercap_root, read_text=read_text)
        except EnergyUnavailable as exc:
            return cpu_estimate(str(exc))
    return cpu_estimate(f"no energy counter for {kind}")


def explain(device: str = "cpu", **choose_kwargs) -> str:
    """One line for `lab env`: the source `choose_source(device)` picks, and why.

    e.g. "estimate: RAPL not available: /sys/class/powercap does not exist; using
    10.0 W per busy core: default for a CPU not in the table (...)", or for a GPU
    without NVML "estimate-cpu-only: GPU not included: NVML unavailable: ...; using ...".
    """
    return describe(choose_source(device, **choose_kwargs))


def describe(source: EnergySource) -> str:
    """One line naming `source`, why it was chosen, and what it assumes."""
    if not source.assumption:  # a counter: its note already says what and why
        return source.note if source.note.startswith(f"{source.name}:") else f"{source.name}: {source.note}"
    parts = [source.reason] if source.reason else []
    return f"{source.name}: " + "; ".join(parts + [f"using {source.assumption}"])


def measure_idle_power(source: EnergySource, seconds: float, *, clock: Callable[[], float] = time.perf_counter,
                       sleep: Callable[[float], object] = time.sleep) -> float:
    """Mean power (W) `source` reads while this process sleeps for `seconds` (s).

    For the CPU-time estimate this is ~0 W: process CPU time does not advance
    while sleeping. For counters it is the machine's (or board's) idle draw,
    including other processes.
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"idle seconds must be a positive number, got {seconds!r}")
    start, before = clock(), source.read_joules()
    sleep(seconds)
    after, end = source.read_joules(), clock()
    return (after - before) / (end - start) if end > start else 0.0


def measure_energy(fn: Callable[[], object], source: EnergySource, *, min_window_s: float = 0.0,
                   max_calls: int = 1_000_000, clock: Callable[[], float] = time.perf_counter,
                   sync: Callable[[], object] | None = None, quick: bool = False,
                   idle_baseline_s: float = 0.0,
                   sleep: Callable[[float], object] = time.sleep,
                   opened: tuple[float, float, int] | None = None,
                   idle_power_w: float | None = None) -> EnergyReading:
    """Run `fn()` repeatedly in one window and read `source` around it.

    `opened` = (clock at its start, source.read_joules() at its start, calls made since): a
    window already running, e.g. the timed calls (lab.runner reads the counter where the
    timing starts sampling). It is continued only as long as it is still short of the target
    (a short window is extended, not repeated), and `fn` need not run again. `idle_power_w`:
    an idle power measured before that window opened, subtracted as idle_baseline_s would.

    The window lasts at least max(min_window_s, source.min_window_s) seconds by
    `clock`, or stops at `max_calls`; `fn` runs at least once. With `quick`,
    the source's minimum is relaxed to 2 counter updates (so one update lands
    inside) and the reading says `short_window`. `sync` (e.g.
    torch.cuda.synchronize) is called before every clock read, so queued GPU
    work lands inside the window. With `idle_baseline_s` > 0, idle power is
    measured for that long just before the window and idle_w x seconds is
    subtracted from its joules. Divide `joules` by `calls` for one call.
    """
    if max_calls < 1:
        raise ValueError(f"max_calls must be at least 1, got {max_calls!r}")
    if not (isinstance(idle_baseline_s, (int, float)) and math.isfinite(idle_baseline_s) and idle_baseline_s >= 0):
        raise ValueError(f"idle_baseline_s must be a number of seconds >= 0, got {idle_baseline_s!r}")
    floor_s = 2 * source.update_interval_s if quick else source.min_window_s
    target_s = max(min_window_s, floor_s)

    def now() -> float:
        if sync is not None:
            sync()
        return clock()

    idle_w = idle_power_w
    if idle_w is None and idle_baseline_s > 0:
        if sync is not None:
            sync()  # queued work would otherwise count as idle
        idle_w = measure_idle_power(source, idle_baseline_s, clock=clock, sleep=sleep)
    if opened is None:
        start, before, calls, end = now(), source.read_joules(), 0, None
    else:
        start, before, calls = opened
        end = now()
    while end is None or (end - start < target_s and calls < max_calls):
        fn()
        calls += 1
        end = now()
    after = source.read_joules()
    seconds = end - start
    joules = after - before
    if idle_w is not None:
        joules -= idle_w * seconds  # may go below 0 when the work is lost in idle noise: kept, not hidden
    # A tiny relative tolerance: 100 x 0.01 is not exactly 1.0 in every float order.
    short = seconds < WINDOW_UPDATES * source.update_interval_s * (1 - 1e-9)
    return EnergyReading(joules=joules, seconds=seconds, calls=calls, source=source.name, note=source.note,
                         idle_power_w=idle_w, assumption=source.assumption, short_window=short,
                         max_power_w=getattr(source, "max_power_w", None))


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


def describe_with_energy() -> dict:
    """lab.hardware.describe(), each device also with where its energy would come from: ``energy_source`` (the
    source's name), ``energy_note``, ``energy_assumption`` and ``energy_why`` (``describe``,
    one line). What ``python -m lab env`` shows, for this machine and on every cluster node."""
    from lab import hardware

    info = hardware.describe()
    for dev in info["devices"]:
        source = choose_source(dev["device"])
        try:
            dev["energy_source"], dev["energy_note"] = source.name, source.note
            dev["energy_assumption"], dev["energy_why"] = source.assumption, describe(source)
        finally:
            source.close()
    return info
