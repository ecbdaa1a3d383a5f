"""Latency of one call, measured honestly.

Warm up first; then time every call separately and keep the raw samples,
stopping only once both a minimum count and a minimum time are reached (so a
fast call gets many samples and a slow one still gets enough). Report the
median and tail percentiles, not the mean alone, and flag the result ``noisy``
when the spread (IQR / median) is above 10 %.

On a GPU the clock must not run ahead of the device: pass ``sync`` (e.g.
torch.cuda.synchronize) to be called before every clock read, or use
``cuda_event_timer`` which times each call with CUDA events.

The clock is injectable, so tests use a fake one and get exact statistics.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

NOISY_IQR_OVER_MEDIAN = 0.10


@dataclasses.dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and to sample. Times in seconds.

    Warm-up lasts ``warmup_runs`` calls and ``warmup_s``, but a slow call stops it after
    two calls once ``warmup_max_s`` has passed (five warm-up calls of minilm at batch 16,
    70 ms each, were most of a row's overhead outside the measurement; two reach steady
    state: the first pays allocation and kernel choice, the second confirms it, and the
    timing's own IQR check samples on where they did not).
    Sampling stops once ``min_runs`` and ``min_time_s`` are both reached and the
    samples are not noisy; a noisy run keeps sampling until ``max_time_s``.
    ``max_runs`` caps the count. At least ``min_runs`` calls are always made,
    even past ``max_time_s``, so a slow model still gets percentiles."""

    warmup_runs: int = 5
    warmup_s: float = 0.05
    warmup_max_s: float = 0.1
    min_runs: int = 20
    min_time_s: float = 0.5
    max_time_s: float = 5.0
    max_runs: int = 100_000

    @classmethod
    def quick(cls) -> "TimingPolicy":
        """For interactive use (the dashboard, --quick) and tests: fewer, shorter samples (rows say
        budget 'quick'). A noisy run stops at 0.15 s, not 5: a dashboard user waits for the point
        (its target is 300 ms from a toggle), and the row still says ``noisy``."""
        return cls(warmup_runs=2, warmup_s=0.0, min_runs=10, min_time_s=0.05, max_time_s=0.15)


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Summary of per-call latencies, all in milliseconds."""

    samples_ms: tuple[float, ...]
    p50: float
    p90: float
    p99: float
    mean: float
    iqr: float
    min: float

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def noisy(self) -> bool:
        return self.p50 > 0 and self.iqr / self.p50 > NOISY_IQR_OVER_MEDIAN

    def as_row(self) -> dict:
        """The vocabulary's timing columns."""
        return {"latency_ms_p50": self.p50, "latency_ms_p90": self.p90, "latency_ms_p99": self.p99,
                "latency_ms_mean": self.mean, "latency_ms_iqr": self.iqr, "latency_ms_min": self.min,
                "samples": self.n, "noisy": self.noisy}


def summarize(samples_ms) -> LatencyStats:
    """Percentiles (linear interpolation, as numpy) of raw samples in ms."""
    samples = np.asarray(samples_ms, dtype=float)
    if samples.size == 0:
        raise ValueError("samples_ms=[] is not allowed: at least one sample")
    p25, p50, p75, p90, p99 = np.percentile(samples, [25, 50, 75, 90, 99])
    return LatencyStats(samples_ms=tuple(samples.tolist()), p50=float(p50), p90=float(p90), p99=float(p99),
                        mean=float(samples.mean()), iqr=float(p75 - p25), min=float(samples.min()))


def _wall_clock_timer(clock: Callable[[], float], sync: Callable[[], None] | None):
    """time_one(fn) -> (ms, clock reading after the call)."""
    if sync is None:
        def time_one(fn):
            start = clock()
            fn()
            end = clock()
            return (end - start) * 1e3, end
    else:
        def time_one(fn):
            sync()
            start = clock()
            fn()
            sync()
            end = clock()
            return (end - start) * 1e3, end
    return time_one


def cuda_event_timer(device, clock: Callable[[], float] = time.perf_counter):
    """time_one(fn) timing each call with a pair of CUDA events on ``device``'s current stream.

    Waits for the end event after every call, so each sample is one call's
    device time, not a queue of launches."""
    import torch

    start_event = torch.cuda.Event(enable_timing=True)
    end_event = torch.cuda.Event(enable_timing=True)

    def time_one(fn):
        with torch.cuda.device(device):
            start_event.record()
            fn()
            end_event.record()
            end_event.synchronize()
        return start_event.elapsed_time(end_event), clock()
    return time_one


def time_calls(fn: Callable[[], object], policy: TimingPolicy = TimingPolicy(), *,
               clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] | None = None,
               time_one=None,
               on_start: Callable[[], object] | None = None,
               probe: Callable[[Callable[[], object]], object] | None = None) -> LatencyStats:
    """Warm up, then time ``fn()`` call by call until the policy says enough.

    clock:    seconds, monotonic (injectable for tests)
    sync:     called before each clock read (e.g. torch.cuda.synchronize)
    time_one: a custom per-call timer such as ``cuda_event_timer(device)``
    on_start: called once after warm-up, just before the first timed call (the sampling window
              opens: lab.runner reads the energy counter there, so energy covers the timed calls)
    probe:    ``probe(fn)`` makes the second warm-up call itself (it must call ``fn`` once): lab.runner
              reads peak memory there, on a call past the first one's allocations and kernel choices,
              instead of paying an extra call after the timing (a slow model warms up on two calls)
    """
    if time_one is None:
        time_one = _wall_clock_timer(clock, sync)
    start = clock()
    runs = 0
    probed = probe is None  # with a probe, warm-up lasts at least the two calls it needs
    while not probed or runs < policy.warmup_runs or clock() - start < policy.warmup_s:
        if runs == 1 and not probed:
            probe(fn)
            probed = True
        else:
            fn()
        runs += 1
        elapsed = clock() - start
        if probed and (elapsed > policy.max_time_s or (runs >= 2 and elapsed >= policy.warmup_max_s)):
            break
    if sync is not None:
        sync()
    if on_start is not None:
        on_start()  # the sampling window opens here (the runner reads its energy counter over it)
    samples: list[float] = []
    begin = clock()
    next_check_s = policy.min_time_s
    while len(samples) < policy.max_runs:
        ms, now = time_one(fn)
        samples.append(ms)
        elapsed = now - begin
        if len(samples) >= policy.min_runs and elapsed >= min(next_check_s, policy.max_time_s):
            # Enough by count and time. A noisy result gets more samples (the
            # check doubles its interval, so the summary cost stays small) until
            # max_time_s; a steady one stops here.
            if elapsed >= policy.max_time_s or not summarize(samples).noisy:
                break
            next_check_s = 2 * elapsed
    return summarize(samples)
