"""Training runs in the dashboard's worker: each epoch's point drawn as it is measured, a newer selection
stops the run. No widgets here (lab.widgets.data_train_panel adapts these to them).

    curves = LiveCurves()
    bench = EpochBench(train_bench, curves)      # what lab.dashboard.worker.Worker measures through
    worker = Worker(bench, notify)               # the same worker as the inference dashboard
    bench.stop_running(); worker.submit(...)     # a new selection: the running training stops at its next epoch
    curves.snapshot()                            # {config_id: [point, ...]}: what to draw

The Worker calls ``bench.measure(config)`` with the configuration alone; EpochBench passes the training
side's ``on_epoch`` and ``should_stop`` (lab.train.TrainBench.measure) through. ``on_epoch`` runs in the
worker thread, at an epoch boundary, while lab.train has paused the run's clock and energy counter: it
appends the point and the panel waits for it to be drawn (a ``Redrawer``'s thread draws, throttled), so drawing is
never inside the training's own time and never beside it on the cores.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from lab.train.loop import CANCELLED


def is_cancelled(row) -> bool:
    """True for the row of a run a newer selection stopped: lab.train writes exactly ``error=CANCELLED``
    (lab.train.loop), and lab.train.TrainBench tells such a row by the same equality."""
    return hasattr(row, "get") and row.get("error") == CANCELLED


class LiveCurves:
    """The curve points of the runs in progress (and just finished), per config_id, thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._points: dict[str, list[dict]] = {}
        self.running: str | None = None     # config_id of the run in progress

    def start(self, config_id: str) -> None:
        with self._lock:
            self._points[config_id] = []
            self.running = config_id

    def add(self, config_id: str, point: dict) -> None:
        with self._lock:
            self._points.setdefault(config_id, []).append(dict(point))

    def finish(self, config_id: str, keep: bool = True) -> None:
        """The run ended; ``keep``: its points stay until its row replaces them (False: a cancelled run's go)."""
        with self._lock:
            if self.running == config_id:
                self.running = None
            if not keep:
                self._points.pop(config_id, None)

    def points(self, config_id: str) -> list[dict]:
        with self._lock:
            return list(self._points.get(config_id, ()))

    def snapshot(self) -> dict[str, list[dict]]:
        with self._lock:
            return {k: list(v) for k, v in self._points.items()}


class EpochBench:
    """A training bench as lab.dashboard.worker.Worker sees one: ``measure(config)``, and the wrapped
    bench's ``stored``, ``store``, ``budget`` (through ``__getattr__``); ``measure`` passes ``on_epoch``
    (into ``curves``, then ``on_point``) and a ``should_stop`` that turns True once ``stop_running()``
    was called after the run started."""

    def __init__(self, bench, curves: LiveCurves, on_point: Callable[[object, dict], None] | None = None):
        self.bench, self.curves, self.on_point = bench, curves, on_point
        self._generation = 0
        self._lock = threading.Lock()
        self.stops_asked = 0   # should_stop() calls that answered True (tests)

    # lab.dashboard.worker.Worker passes a should_stop of its own (True once a newer request came):
    # with stop_running() alone, a run that began between stop_running() and the new submit() ran on.
    stops_when_asked = True

    def __getattr__(self, name):  # stored, store, budget, env_id, ...: the wrapped bench's
        if name == "bench":
            raise AttributeError(name)
        return getattr(self.bench, name)

    def stop_running(self) -> None:
        """The run in progress (if any) stops at its next epoch (its should_stop answers True)."""
        with self._lock:
            self._generation += 1

    def measure(self, config, should_stop: Callable[[], bool] | None = None) -> dict:
        """Train ``config`` through the wrapped bench; it stops at its next epoch once stop_running()
        is called or ``should_stop()`` (the worker's: a newer request came) answers True."""
        asked = should_stop
        with self._lock:
            generation = self._generation
        config_id = config.config_id

        def on_epoch(point: dict) -> None:
            self.curves.add(config_id, point)
            if self.on_point is not None:
                self.on_point(config, point)

        def should_stop() -> bool:
            stop = self._generation != generation or (asked is not None and asked())
            self.stops_asked += stop
            return stop

        self.curves.start(config_id)
        row = None
        try:
            row = self.bench.measure(config, on_epoch=on_epoch, should_stop=should_stop)
            return row
        finally:
            self.curves.finish(config_id, keep=row is not None and not is_cancelled(row))


class Redrawer:
    """Calls ``draw()`` in its own thread when asked, at most once per ``min_interval_s``; requests that
    arrive while it waits or draws are merged into one draw (the newest state is drawn).

    A hand-written throttle (a Condition and a thread): ipywidgets has no thread-safe throttle, and
    callers that must not wait (worker events) only ask; a training epoch boundary asks, then flushes,
    where a frame is ``due()`` (else its point is drawn with a later one)."""

    def __init__(self, draw: Callable[[], None], min_interval_s: float = 0.2, name: str = "lab-redraw"):
        self.draw, self.min_interval_s = draw, min_interval_s
        self._cond = threading.Condition()
        self._asked = 0        # requests so far
        self._drawn = 0        # requests covered by a finished draw
        self._closed = False
        self._last = -float("inf")   # time.perf_counter() when the last draw ended
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        with self._cond:
            self._asked += 1
            self._cond.notify_all()

    def due(self) -> bool:
        """Whether a frame asked now would be drawn without waiting out ``min_interval_s``."""
        return time.perf_counter() - self._last >= self.min_interval_s

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every request made so far is drawn; False if ``timeout`` (s) passed first."""
        with self._cond:
            target = self._asked
            return self._cond.wait_for(lambda: self._closed or self._drawn >= target, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._asked > self._drawn)
                if self._closed:
                    return
            pause = self._last + self.min_interval_s - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # requests arriving meanwhile join this draw
            with self._cond:
                covered = self._asked
            try:
                self.draw()
            except Exception as exc:  # noqa: BLE001 — a failed frame is reported, the next one is tried
                self.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            self._last = time.perf_counter()
            with self._cond:
                self._drawn = max(self._drawn, covered)
                self._cond.notify_all()
