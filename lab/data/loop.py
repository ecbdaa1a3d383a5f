"""The timed loop every loader figure comes from, and the CPU time of this process tree.

``timed_loop(make_iter, step, seconds)`` runs the real loop — take the next batch, then the
model step — and measures where its time goes: the time spent inside ``next(iterator)`` is
waiting for data, and the stall fraction is that wait over the loop's total time (measured,
as DS-Analyzer does, not inferred from the loader's and the model's separate rates). With
``step=None`` it is the loader alone; over an endless iterator of one synthetic batch, the
model alone. The clock is injectable: a fake loader that advances a fake clock by d per batch
and a fake step that advances it by s give a stall fraction of exactly d / (d + s).

Start-up is kept apart: creating the iterator and getting its first batch (for a loader with
workers: starting the worker processes, which then fill their prefetch queues) is
``startup_s``, followed by ``warmup_batches`` untimed batches, then the timed window opens.
When an epoch ends inside the window a new iterator is made and its start-up counts as
waiting: that is what a training loop pays at every epoch (unless its workers persist).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterator

Batch = object


@dataclasses.dataclass(frozen=True)
class LoopStats:
    """One timed loop. Times in seconds (s), by the loop's clock.

    samples, batches: taken inside the timed window; seconds: the window's length;
    wait_s: time spent inside next(iterator) in the window (restarts at an epoch's end included);
    startup_s: iterator creation to first batch, before the window; epochs_restarted: epochs
    that ended inside the window (each one a new iterator)."""

    samples: int
    batches: int
    seconds: float
    wait_s: float
    startup_s: float
    epochs_restarted: int = 0

    @property
    def sps(self) -> float:
        """Samples per second over the window."""
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def stall_frac(self) -> float:
        """Share (0-1) of the window spent waiting for the next batch."""
        return min(1.0, self.wait_s / self.seconds) if self.seconds > 0 else float("nan")


def batch_samples(batch) -> int:
    """Samples in a batch: the length of its labels (x, y), or of the batch itself."""
    if isinstance(batch, (tuple, list)):
        batch = batch[-1]
    return len(batch)


def timed_loop(make_iter: Callable[[], Iterator[Batch]], step: Callable[[Batch], object] | None,
               seconds: float, *, warmup_batches: int = 1, clock: Callable[[], float] = time.perf_counter,
               on_start: Callable[[], object] | None = None,
               on_stop: Callable[[], object] | None = None) -> LoopStats:
    """Take batches from ``make_iter()`` and give each to ``step`` until ``seconds`` have passed
    (at least one batch in the window); see the module docstring. ``on_start`` is called as the
    timed window opens, ``on_stop`` right after its last clock read, while the iterator (and any
    non-persistent workers) is still alive: the caller reads its energy and CPU counters in the two,
    so they cover the window the returned ``seconds`` measure, not the iterator's shutdown."""
    state = {"it": None, "restarts": 0}

    def take():
        try:
            return next(state["it"])
        except StopIteration:  # an epoch ended: the next one starts now, as in training
            state["it"] = make_iter()
            state["restarts"] += 1
            return next(state["it"])

    started = clock()
    state["it"] = make_iter()
    batch = next(state["it"])
    startup_s = clock() - started
    for i in range(max(1, warmup_batches)):
        if i:
            batch = take()
        if step is not None:
            step(batch)
    state["restarts"] = 0
    if on_start is not None:
        on_start()
    samples = batches = 0
    wait_s = 0.0
    begin = now = clock()
    while True:
        # The wait starts at the previous reading (the end of the last step): two clock reads per
        # batch inside the timed window, not three.
        batch = take()
        got = clock()
        wait_s += got - now
        if step is not None:
            step(batch)
        samples += batch_samples(batch)
        batches += 1
        now = clock()
        if now - begin >= seconds:
            break
    if on_stop is not None:
        on_stop()
    return LoopStats(samples=samples, batches=batches, seconds=now - begin, wait_s=wait_s, startup_s=startup_s,
                     epochs_restarted=state["restarts"])


def tree_cpu_s() -> float:
    """CPU time (s, user + system) of this process, its live descendants (DataLoader workers) and
    the children it has already reaped (workers of finished epochs), from psutil."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:  # exited between listing and reading: counted once reaped
            continue
        total += c.user + c.system
    return total
