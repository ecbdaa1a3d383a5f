"""Energy from a power reading sampled over time, for GPUs without an energy counter.

A daemon thread reads power (W) every `period_s` while the source is open and
integrates it by the trapezoid rule. The first `read_joules()` opens it;
`close()` stops the thread, and nothing is counted until the next read opens
it again. Every `read_joules()` also takes a sample, so a window's edges are
exact in time rather than up to one period late.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from lab.measure.energy_source import WINDOW_UPDATES, EnergySource, EnergyUnavailable, one_line, positive

__all__ = ["SampledEnergy"]


class SampledEnergy(EnergySource):
    """Integral (J) of `read_w()` (W) over time, sampled every `period_s` (s).

    `clock` (s) and `sleep` are injectable so tests are exact; `background=False`
    samples only on `read_joules()`/`sample()` (tests drive it by hand).
    """

    def __init__(self, read_w: Callable[[], float], *, period_s: float = 0.01,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
                 background: bool = True):
        if not positive(period_s):
            raise ValueError(f"period_s must be a positive number of seconds, got {period_s!r}")
        self.period_s = float(period_s)
        self.update_interval_s = self.period_s
        self.min_window_s = WINDOW_UPDATES * self.period_s
        self._read_w, self._clock, self._sleep = read_w, clock, sleep
        self._background = background
        self._lock = threading.Lock()  # one sample at a time: the thread's or a reader's
        self._joules = 0.0
        self._last: tuple[float, float] | None = None  # (time s, power W) of the last sample
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.samples = 0

    def sample(self) -> None:
        """Read power now and add the trapezoid since the previous sample."""
        with self._lock:  # clock and reading together, so samples stay in time order
            now, watts = self._clock(), float(self._read_w())
            if self._last is not None:
                then, before = self._last
                self._joules += (before + watts) / 2.0 * (now - then)
            self._last = (now, watts)
            self.samples += 1

    def read_joules(self) -> float:
        if self._error is not None:
            raise EnergyUnavailable(f"{self.name}: power sampling failed: {one_line(self._error)}")
        try:
            self.sample()
        except Exception as exc:
            raise EnergyUnavailable(f"{self.name}: power reading failed: {one_line(exc)}") from None
        if self._background and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"energy-{self.name}", daemon=True)
            self._thread.start()
        with self._lock:
            return self._joules

    def close(self) -> None:
        """Stop sampling; the integral so far is kept. Safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10 * self.period_s + 1.0)
        with self._lock:
            self._last = None  # the next read starts a new segment: the gap is not counted

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sleep(self.period_s)
            if self._stop.is_set():
                return
            try:
                self.sample()
            except Exception as exc:  # reported by the next read_joules, in the main thread
                self._error = exc
                return
