"""How much CPU OTHER processes used while we measured, and what to do about it.

On a busy laptop (a browser, a video call) a forward pass that takes 1 ms in a
quiet loop can read hundreds of ms: every parallel region waits for a thread
the scheduler gave to someone else. The timing spread does not always show it
(the stall can be steady), so the lab measures it directly:

    other_cpu_frac = (busy CPU time of our CPUs - this process's CPU time)
                     / (wall time x number of those CPUs)

over a window: 0 = nobody else ran, 1 = others kept every one of our CPUs busy.

Readers, best first (`CpuContention.method`):

- ``proc-stat`` (Linux): /proc/stat, the lines of the CPUs this process may run
  on (its affinity; e.g. a container's cpuset), else the all-CPU line. Busy =
  user + nice + system + irq + softirq + steal (steal: a hypervisor ran another
  guest on our vCPU, which stalls us just the same); idle and iowait are not
  busy. Counted in clock ticks (usually 10 ms), so a window's fraction is
  uncertain by about one tick / its length (±0.01 over 1 s, ±0.1 over 0.1 s):
  `resolution_s` says how long the tick is.
- ``psutil`` (macOS, Windows) when importable: psutil.cpu_times() of all CPUs.
- ``unknown``: neither: `other_cpu_frac` is None and `note` says why.

Our own CPU time is time.process_time() (every thread of this process). Child
processes (compile workers, data loaders) count as others: they do compete.

    meter = CpuContention()
    with meter.window() as w:
        run_the_measurement()
    w.other_cpu_frac, w.contended, w.note

`run_with_contention` is the runner's policy: a contended measurement is
retried after a pause, within a bound; if it is still contended it is kept,
flagged `contended`, never passed off as clean.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

__all__ = ["CONTENDED_OTHER_CPU_FRAC", "is_contended", "CpuContention", "ContentionWindow",
           "ContentionPolicy", "ContentionOutcome", "run_with_contention", "parse_proc_stat"]

# A window is contended when others used at least 10 % of our CPUs' time.
# Why 10 %: an idle desktop's daemons and an idle browser use 1-5 % of a 2-4
# core laptop, which should not flag every row; a video call, a build or a
# playing video uses 20 % and more. With torch threads = all cores, others at
# 10 % of the cores stall about that share of our parallel regions, and 10 %
# is also the spread (IQR / median) at which timing flags a row `noisy`.
# It is above /proc/stat's tick uncertainty (±0.01) for windows of 1 s or more.
CONTENDED_OTHER_CPU_FRAC = 0.10

T = TypeVar("T")


def is_contended(other_cpu_frac: float | None, threshold: float = CONTENDED_OTHER_CPU_FRAC) -> bool:
    """True when others used at least `threshold` (0-1) of our CPUs; False when unknown (None)."""
    return other_cpu_frac is not None and other_cpu_frac >= threshold


def parse_proc_stat(text: str, cpus: Iterable[int] | None = None) -> tuple[int, int]:
    """(busy ticks, CPUs counted) from /proc/stat text: the `cpuN` lines of `cpus`, or the
    all-CPU `cpu` line (and the number of `cpuN` lines) when `cpus` is None.

    Busy = user + nice + system + irq + softirq + steal (fields 1-3 and 6-8);
    guest time is already inside user. Raises ValueError when a line is missing.
    """
    lines = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].startswith("cpu"):
            lines[fields[0]] = fields[1:]
    wanted = ["cpu"] if cpus is None else [f"cpu{i}" for i in sorted(cpus)]
    busy = 0
    for name in wanted:
        if name not in lines or len(lines[name]) < 4:
            raise ValueError(f"/proc/stat has no usable {name!r} line")
        ticks = [int(v) for v in lines[name][:8]]
        busy += sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # minus idle, iowait
    count = len(wanted) if cpus is not None else sum(1 for k in lines if k != "cpu")
    return busy, count


@dataclass(frozen=True)
class _Snapshot:
    busy_s: float | None  # busy CPU time of our CPUs (s); None when unreadable
    own_s: float          # this process's CPU time (s)
    wall_s: float         # clock (s)
    error: str = ""


class ContentionWindow:
    """One window's result, filled in when the `with` block ends.

    other_cpu_frac: share (0-1) of our CPUs' time used by other processes, None
    when unknown; other_cores: the same in cores (frac x cpus); seconds: wall
    length (s); cpus: CPUs counted; method: 'proc-stat' | 'psutil' | 'given'
    (an injected reader) | 'unknown';
    note: one line saying what was measured, or why it could not be.
    """

    def __init__(self, meter: "CpuContention"):
        self._meter = meter
        self.other_cpu_frac: float | None = None
        self.seconds = 0.0
        self.cpus = meter.cpus
        self.method = meter.method
        self.note = meter.note
        self._start: _Snapshot | None = None

    @property
    def other_cores(self) -> float | None:
        """Cores' worth of CPU others used (frac x cpus); None when unknown."""
        return None if self.other_cpu_frac is None else self.other_cpu_frac * self.cpus

    @property
    def contended(self) -> bool:
        return is_contended(self.other_cpu_frac)

    def __enter__(self) -> "ContentionWindow":
        self._start = self._meter.snapshot()
        return self

    def __exit__(self, *exc) -> None:
        end = self._meter.snapshot()
        self.seconds = end.wall_s - self._start.wall_s
        self.other_cpu_frac, self.note = self._meter.between(self._start, end)
        if self.other_cpu_frac is None:
            self.method = "unknown"


class CpuContention:
    """Reads busy CPU time of the CPUs this process may use, and its own CPU time.

    Everything is injectable for tests: `read_stat() -> str` (/proc/stat text),
    `busy_cpu_s() -> float` (a reader in seconds, used instead of /proc/stat,
    e.g. psutil), `own_cpu_s() -> float` (s), `clock() -> float` (s), `cpus`
    (CPU indices to count in /proc/stat; default: this process's affinity),
    `clk_tck` (ticks per second).
    """

    def __init__(self, *, read_stat: Callable[[], str] | None = None,
                 busy_cpu_s: Callable[[], float] | None = None,
                 own_cpu_s: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.perf_counter,
                 cpus: Iterable[int] | None = None, clk_tck: int | None = None):
        self._own, self._clock = own_cpu_s, clock
        self._read_stat, self._busy = read_stat, busy_cpu_s
        self.resolution_s = 0.0
        if busy_cpu_s is not None:
            self.method, self.cpus = "given", len(list(cpus)) if cpus is not None else (os.cpu_count() or 1)
            self.note = f"busy CPU time of {self.cpus} CPUs from the given reader minus this process's CPU time"
            return
        self._cpu_set = sorted(cpus) if cpus is not None else _affinity()
        try:
            _, self.cpus = parse_proc_stat((read_stat or _read_proc_stat)(), self._cpu_set)
            self._read_stat = read_stat or _read_proc_stat
            self._clk_tck = clk_tck or _clk_tck()
            self.resolution_s = 1.0 / self._clk_tck
            which = "all CPUs" if self._cpu_set is None else f"CPUs {_ranges(self._cpu_set)}"
            self.method = "proc-stat"
            self.note = f"/proc/stat busy time of {which} ({self.cpus}) minus this process's CPU time"
            return
        except (OSError, ValueError) as exc:
            why = f"/proc/stat not readable ({type(exc).__name__}: {exc})"
        self.cpus = 0
        # psutil only stands in for the real /proc/stat: an injected reader that fails stays unknown.
        psutil_why = "no fallback for an injected reader"
        if read_stat is None:
            self._busy, self.cpus, psutil_why = _psutil_reader()
            if self._busy is not None:
                self.method = "psutil"
                self.note = f"psutil.cpu_times busy time of all CPUs ({self.cpus}) minus this process's CPU time"
                return
        self.method, self.note = "unknown", f"contention unknown: {why}; {psutil_why}"

    def snapshot(self) -> _Snapshot:
        """Busy CPU time (s), own CPU time (s) and the clock (s), now."""
        own, wall = self._own(), self._clock()
        if self.method == "unknown":
            return _Snapshot(None, own, wall, self.note)
        try:
            if self._busy is not None:
                busy = float(self._busy())
            else:
                busy = parse_proc_stat(self._read_stat(), self._cpu_set)[0] / self._clk_tck
        except Exception as exc:  # noqa: BLE001 - a reader that fails makes the window unknown, never a crash
            return _Snapshot(None, own, wall, f"contention unknown: {self.method} read failed "
                                              f"({type(exc).__name__}: {exc})")
        return _Snapshot(busy, own, wall)

    def between(self, start: _Snapshot, end: _Snapshot) -> tuple[float | None, str]:
        """(other_cpu_frac, note) between two snapshots; (None, why) when unknown."""
        if start.busy_s is None or end.busy_s is None:
            return None, start.error or end.error
        wall = end.wall_s - start.wall_s
        if not wall > 0 or not self.cpus:
            return None, "contention unknown: empty window"
        others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
        frac = min(1.0, max(0.0, others / (wall * self.cpus)))  # tick rounding can step past 0 or 1
        note = (f"{self.method}: others used {frac:.0%} of {self.cpus} CPUs over {wall:.3g} s")
        if self.resolution_s:
            note += f" (±{min(1.0, self.resolution_s / wall):.2f}: {self.resolution_s * 1e3:g} ms ticks)"
        return frac, note

    def window(self) -> ContentionWindow:
        """`with meter.window() as w:` ...; then w.other_cpu_frac, w.note."""
        return ContentionWindow(self)


@dataclass(frozen=True)
class ContentionPolicy:
    """A contended measurement (others >= `threshold` of our CPUs) is retried after
    `pause_s` (s), at most `max_retries` times; if still contended it is kept and flagged."""

    max_retries: int = 2
    pause_s: float = 1.0
    threshold: float = CONTENDED_OTHER_CPU_FRAC

    def __post_init__(self):
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries!r} is not allowed: an integer >= 0")
        for name in ("pause_s", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name}={value!r} is not allowed: a number >= 0")


@dataclass(frozen=True)
class ContentionOutcome(Generic[T]):
    """What `run_with_contention` kept.

    result: the kept attempt's result; contended: True when every attempt was
    contended (the kept one is the least contended), or when the machine was
    contended before a window that could not be read; contention_retries:
    attempts after the first; other_cpu_frac: the kept attempt's share (0-1),
    None when unknown; contention_method: the reader's method, 'unknown' when
    the kept attempt could not be read; contention_note: one line on what happened.
    """

    result: T
    contended: bool
    contention_retries: int
    other_cpu_frac: float | None
    contention_method: str
    contention_note: str

    def as_row(self) -> dict:
        """The row fields (see lab.columns)."""
        return {"contended": self.contended, "contention_retries": self.contention_retries,
                "other_cpu_frac": self.other_cpu_frac, "contention_method": self.contention_method,
                "contention_note": self.contention_note}


def run_with_contention(measure_once: Callable[[], tuple[T, float | None]],
                        policy: ContentionPolicy = ContentionPolicy(), *, method: str,
                        sleep: Callable[[float], object] = time.sleep) -> ContentionOutcome[T]:
    """Call `measure_once() -> (result, other_cpu_frac)` until an attempt is not contended,
    sleeping `policy.pause_s` before each retry, at most 1 + `policy.max_retries` calls.

    A clean attempt is kept as it is. If all are contended, the least contended
    is kept, flagged. An unreadable attempt (None) ends the loop: it is kept,
    with method 'unknown', flagged only when an earlier attempt was contended.
    `method` names the reader (CpuContention.method) for the row.
    """
    tried: list[tuple[T, float]] = []
    while True:
        result, frac = measure_once()
        retries = len(tried)
        if frac is None:
            worst = max((f for _, f in tried), default=None)
            note = "contention unknown for the kept attempt"
            if worst is not None:
                note += f"; {retries} earlier attempt(s) contended (others up to {worst:.0%}): flagged"
            return ContentionOutcome(result, worst is not None, retries, None, "unknown", note)
        if not is_contended(frac, policy.threshold):
            note = f"others used {frac:.0%} of the CPUs (under {policy.threshold:.0%})"
            if retries:
                note += f", after {retries} contended attempt(s) and {policy.pause_s:g} s pauses"
            return ContentionOutcome(result, False, retries, frac, method, note)
        tried.append((result, frac))
        if retries >= policy.max_retries:
            result, frac = min(tried, key=lambda t: t[1])
            note = (f"contended: others used {frac:.0%} of the CPUs (threshold {policy.threshold:.0%}) in the "
                    f"least contended of {len(tried)} attempt(s), {policy.pause_s:g} s apart")
            return ContentionOutcome(result, True, retries, frac, method, note)
        sleep(policy.pause_s)


def _affinity() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return None


def _clk_tck() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100  # the Linux USER_HZ on every common architecture


def _read_proc_stat() -> str:
    with open("/proc/stat") as f:
        return f.read()


def _psutil_reader() -> tuple[Callable[[], float] | None, int, str]:
    """(busy CPU seconds of all CPUs, CPU count, why not) from psutil, if importable."""
    try:
        import psutil
    except ImportError:
        return None, 0, "psutil not installed"

    def busy() -> float:
        t = psutil.cpu_times()
        idle = getattr(t, "idle", 0.0) + getattr(t, "iowait", 0.0)
        guest = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # already inside user on Linux
        return sum(t) - idle - guest

    try:
        busy()
    except Exception as exc:  # noqa: BLE001 - any failure is a reason, not a crash
        return None, 0, f"psutil.cpu_times failed ({type(exc).__name__}: {exc})"
    return busy, psutil.cpu_count() or os.cpu_count() or 1, ""


def _ranges(cpus: list[int]) -> str:
    """'0-3,6' for [0, 1, 2, 3, 6]."""
    out, start, prev = [], None, None
    for c in cpus + [None]:
        if start is not None and c != prev + 1:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if start is None:
            start = c
        prev = c
    return ",".join(out)
