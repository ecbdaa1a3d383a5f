"""CPU energy estimate for machines without readable counters: this process's
CPU time (s) x watts per busy core (W).

Watts per core come from, in order: the caller's `watts_per_core`, env
LAB_WATTS_PER_CORE, the CPU's TDP / cores from `CPU_TDP` (matched on the CPU
model name), else DEFAULT_WATTS_PER_CORE. The `assumption` attribute says which.

TDP / cores is rough: TDP is the sustained all-core power at base clock, so a
single busy core at turbo draws more and an all-core load about that. Cores are
physical: torch runs one thread per physical core by default; two busy SMT
siblings on one core count twice here, overestimating by up to 2x.
"""
from __future__ import annotations

import os
import re
import time
from typing import Callable, NamedTuple

from lab.measure.energy_source import WINDOW_UPDATES, EnergySource, positive

__all__ = ["CpuTdp", "CPU_TDP", "DEFAULT_WATTS_PER_CORE", "CpuTimeEstimate", "CpuOnlyEstimate",
           "cpu_watts_per_core"]

# Why 10 W: TDP / cores of current server and desktop parts lies between about
# 3 W (96-core EPYC) and 10 W (16-core desktop); laptop parts ~4-7 W. 10 W is
# the high end, so an unknown CPU (often a virtual machine, whose model name is
# generic) is not made to look cheaper than it is.
DEFAULT_WATTS_PER_CORE = 10.0


class CpuTdp(NamedTuple):
    """One table row: TDP (W) over physical cores, and where the TDP came from."""

    pattern: str  # regex, searched case-insensitively in the CPU model name
    label: str
    tdp_w: float
    cores: int
    source: str


# Common CPUs. TDP is the vendor's figure (Intel: TDP or processor base power;
# AMD: default TDP); cores are physical cores (P + E cores for hybrid Intel).
CPU_TDP: tuple[CpuTdp, ...] = (
    CpuTdp(r"i7-1185G7\b", "Intel Core i7-1185G7", 28, 4, "Intel ark"),
    CpuTdp(r"i5-1135G7\b", "Intel Core i5-1135G7", 28, 4, "Intel ark"),
    CpuTdp(r"i7-8650U\b", "Intel Core i7-8650U", 15, 4, "Intel ark"),
    CpuTdp(r"i5-8250U\b", "Intel Core i5-8250U", 15, 4, "Intel ark"),
    CpuTdp(r"i7-12700K\b", "Intel Core i7-12700K", 125, 12, "Intel ark"),
    CpuTdp(r"i9-13900K\b", "Intel Core i9-13900K", 125, 24, "Intel ark"),
    CpuTdp(r"Xeon.*\bE5-2690 v4\b", "Intel Xeon E5-2690 v4", 135, 14, "Intel ark"),
    CpuTdp(r"Xeon.*\bGold 6130\b", "Intel Xeon Gold 6130", 125, 16, "Intel ark"),
    CpuTdp(r"Xeon.*\bGold 6248\b", "Intel Xeon Gold 6248", 150, 20, "Intel ark"),
    CpuTdp(r"Xeon.*\bPlatinum 8380\b", "Intel Xeon Platinum 8380", 270, 40, "Intel ark"),
    CpuTdp(r"Xeon.*\bPlatinum 8480\+", "Intel Xeon Platinum 8480+", 350, 56, "Intel ark"),
    CpuTdp(r"EPYC 7543\b", "AMD EPYC 7543", 225, 32, "AMD product page"),
    CpuTdp(r"EPYC 7742\b", "AMD EPYC 7742", 225, 64, "AMD product page"),
    CpuTdp(r"EPYC 7763\b", "AMD EPYC 7763", 280, 64, "AMD product page"),
    CpuTdp(r"EPYC 9554\b", "AMD EPYC 9554", 360, 64, "AMD product page"),
    CpuTdp(r"EPYC 9654\b", "AMD EPYC 9654", 360, 96, "AMD product page"),
    CpuTdp(r"Ryzen 7 5800X\b", "AMD Ryzen 7 5800X", 105, 8, "AMD product page"),
    CpuTdp(r"Ryzen 9 5950X\b", "AMD Ryzen 9 5950X", 105, 16, "AMD product page"),
    CpuTdp(r"Ryzen 9 7950X\b", "AMD Ryzen 9 7950X", 170, 16, "AMD product page"),
)


def cpu_watts_per_core(watts_per_core: float | None = None, cpu_model: str | None = None) -> tuple[float, str]:
    """(W per busy core, assumption) for this CPU; see the module docstring for the order.

    Raises ValueError, in one line naming the field, for a bad argument or env value.
    """
    if watts_per_core is not None:
        if not positive(watts_per_core):
            raise ValueError(f"watts_per_core must be a positive number of watts, got {watts_per_core!r}")
        w = float(watts_per_core)
        return w, f"{round(w, 2)} W per busy core: given by the caller (watts_per_core)"
    env = os.environ.get("LAB_WATTS_PER_CORE", "").strip()
    if env:
        w = _env_watts(env)
        return w, f"{round(w, 2)} W per busy core: set by LAB_WATTS_PER_CORE"
    if cpu_model is None:
        from lab.hardware import cpu_model as _cpu_model  # imports torch: only when needed
        cpu_model = _cpu_model()
    for row in CPU_TDP:
        if re.search(row.pattern, cpu_model, re.IGNORECASE):
            w = row.tdp_w / row.cores
            return w, (f"{round(w, 2)} W per busy core: {row.label} TDP {row.tdp_w:g} W / {row.cores} cores "
                       f"({row.source}); set LAB_WATTS_PER_CORE to override")
    w = DEFAULT_WATTS_PER_CORE
    return w, (f"{round(w, 2)} W per busy core: default for a CPU not in the table ({cpu_model}); "
               "set LAB_WATTS_PER_CORE to override")


class CpuTimeEstimate(EnergySource):
    """Estimate (J): process CPU time (s, all threads) x watts per busy core (W).

    Counts neither idle/uncore/DRAM power nor other processes, and counts
    threads that spin while waiting as busy. Process CPU time does not advance
    while the process sleeps, so an idle baseline measured with it is ~0 W.
    `reason` says why no counter was used; it goes into the note.

    max_power_w: watts per core x the CPUs this process may run on (`cpus`,
    default its affinity): process CPU time cannot grow faster than that, so a
    higher mean power means the arithmetic, not the machine, went wrong.
    """

    name = "estimate"
    update_interval_s = 0.001  # process_time resolves ~1 ms or better on Linux
    min_window_s = WINDOW_UPDATES * update_interval_s
    DEFAULT_WATTS_PER_CORE = DEFAULT_WATTS_PER_CORE

    def __init__(self, watts_per_core: float | None = None,
                 cpu_time: Callable[[], float] = time.process_time, reason: str = "",
                 *, cpu_model: str | None = None, cpus: int | None = None):
        self.watts_per_core, self.assumption = cpu_watts_per_core(watts_per_core, cpu_model)
        self._cpu_time = cpu_time
        self.max_power_w = self.watts_per_core * (cpus or _usable_cpus())
        self.reason = reason
        self.note = f"estimate: {self.watts_per_core} W per busy core x process CPU time"
        if reason:
            self.note += f"; {reason}"

    def read_joules(self) -> float:
        return self._cpu_time() * self.watts_per_core


class CpuOnlyEstimate(CpuTimeEstimate):
    """The CPU-time estimate for a GPU device whose energy cannot be read (no NVML,
    or NVML with neither counter, power nor utilization): the host side only.

    Why a number with its own name rather than no number: the host's share is
    real and worth seeing (a GPU run's Python loop, launches and spin-waits), and
    `energy_source` is never blank; but it leaves out the GPU, usually most of
    the energy, so it must never sit beside a complete estimate under the same
    name. Plots, tables and the store group by `energy_source`, so
    'estimate-cpu-only' keeps these rows apart; `reason` (in the note) starts
    with "GPU not included: " and says why NVML could not be used. Derived
    columns (co2_g_per_1k) inherit the omission: read them with the source.
    """

    name = "estimate-cpu-only"

    def __init__(self, watts_per_core: float | None = None,
                 cpu_time: Callable[[], float] = time.process_time, reason: str = "",
                 *, cpu_model: str | None = None, cpus: int | None = None):
        super().__init__(watts_per_core, cpu_time, f"GPU not included: {reason or 'no GPU energy source'}",
                         cpu_model=cpu_model, cpus=cpus)
        self.note = (f"estimate-cpu-only: host CPU only, {self.watts_per_core} W per busy core x process CPU "
                     f"time; {self.reason}")


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity), else all of them."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _env_watts(text: str) -> float:
    try:
        watts = float(text)
    except ValueError:
        watts = float("nan")
    if not positive(watts):
        raise ValueError(f"LAB_WATTS_PER_CORE must be a positive number of watts per busy core "
                         f"(e.g. 10), got {text!r}")
    return watts
