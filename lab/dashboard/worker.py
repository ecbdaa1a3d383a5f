"""The dashboard's background worker: measures one selection at a time, newest wins.

    worker = Worker(bench, notify)            # bench: lab.bench.Bench, the one path to the store
    worker.submit(configs)                    # cancels whatever older selection is still queued
    worker.wait(10); worker.close()

No widgets here (the panel in lab.widgets.panel adapts these events to them):
``notify(event, **data)`` is called from the worker thread with

- ``"start"``     request, total, cached (rows already known: served at once)
- ``"rows"``      request, rows (new rows of this request, drawn together), done, total, eta_s
- ``"progress"``  request, done, total, eta_s, config (about to be measured)
- ``"done"``      request, measured, cached, seconds
- ``"cancelled"`` request, done, total (a newer selection arrived; nothing more of this one is drawn)

Rules:
- One thread measures, so measurements never overlap (two at once on 2 cores
  would perturb each other's timings; a process-wide lock covers several panels)
  and the live figure is only drawn from it.
- A new selection cancels the stale one between configurations: a configuration
  in progress finishes (the runner can't be interrupted without leaving torch's
  thread settings behind); its row is committed and kept in the session, but it
  is not drawn as the current selection.
- A configuration measured before comes from the session or the store (the
  Bench's reuse rule: a quick row answers the dashboard, a contended or outdated
  one does not), all such rows in one redraw, before any new measurement starts.
- Every new row is committed to the store as it is measured (Bench.measure), and a
  failure is a row with its error, shown in the panel.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable

from lab.config import Config

DEFAULT_ESTIMATE_S = 1.5  # ETA for a model not measured yet in this session
# One measurement at a time in this process, whichever dashboard asks (a cell run twice makes a
# second panel while the first may still be measuring): two at once would perturb both timings.
MEASURING = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Request:
    generation: int
    configs: tuple[Config, ...]
    force: bool = False

    @property
    def ids(self) -> list[str]:
        return [c.config_id for c in self.configs]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class Worker:
    def __init__(self, bench, notify: Callable[..., None]):
        self.bench, self.notify = bench, notify
        self._cond = threading.Condition()
        self._generation = 0
        self._pending: Request | None = None
        self._busy = False
        self._closed = False
        self._rows: dict[str, dict] = {}   # config_id -> newest row this session, in first-seen order
        self._version = 0                   # bumped whenever _rows changes (the figure's cache key)
        self._estimates: dict[str, float] = {}  # model -> seconds per measured configuration (EWMA)
        self.calls = 0                      # runner calls (tests, benchmarks)
        self._thread = threading.Thread(target=self._loop, name="lab-dashboard-worker", daemon=True)
        self._thread.start()

    # --- called from any thread -------------------------------------------------------------
    def submit(self, configs, force: bool = False) -> Request:
        """Measure ``configs`` next; anything older not yet started is dropped."""
        with self._cond:
            self._generation += 1
            request = Request(self._generation, tuple(configs), force)
            self._pending = request
            self._cond.notify_all()
        return request

    def cancel(self) -> None:
        """Drop the queued selection and stop the running one at its next configuration."""
        with self._cond:
            self._generation += 1
            self._pending = None
            self._cond.notify_all()

    def is_current(self, request: Request) -> bool:
        return request.generation == self._generation and not self._closed

    def idle(self) -> bool:
        with self._cond:
            return not self._busy and self._pending is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; False if ``timeout`` (s) passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or (not self._busy and self._pending is None), timeout)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1
            self._pending = None
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def rows(self) -> tuple[list[dict], int]:
        """(rows of this session in first-seen order, version)."""
        with self._cond:
            return list(self._rows.values()), self._version

    # --- the worker thread -------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._pending is not None)
                if self._closed:
                    self._busy = False
                    self._cond.notify_all()
                    return
                request, self._pending, self._busy = self._pending, None, True
            try:
                self._run(request)
            except Exception as exc:  # noqa: BLE001 — a bug in a notify handler must not kill the worker
                self._safe_notify("error", request=request, message=_one_line(exc))
            finally:
                with self._cond:
                    self._busy = self._pending is not None
                    self._cond.notify_all()

    def _safe_notify(self, event: str, **data) -> None:
        try:
            self.notify(event, **data)
        except Exception:  # noqa: BLE001
            pass

    def _cached(self, config: Config) -> dict | None:
        with self._cond:
            row = self._rows.get(config.config_id)
        if row is not None and not row.get("error") and not row.get("contended"):
            return row
        stored = self.bench.stored(config)
        return stored[-1] if stored else None

    def _keep(self, row: dict) -> None:
        with self._cond:
            if self._rows.get(row["config_id"]) is row:
                return  # a session hit: nothing changed, the figure's static layer stays valid
            # A re-measured configuration keeps its place (series keep their colours).
            self._rows[row["config_id"]] = row
            self._version += 1

    def _eta(self, configs) -> float:
        return sum(self._estimates.get(c.model, DEFAULT_ESTIMATE_S) for c in configs)

    def _run(self, request: Request) -> None:
        started = time.perf_counter()
        total = len(request.configs)
        cached, todo = [], []
        for config in request.configs:
            row = None if request.force else self._cached(config)
            (cached.append(row) if row is not None else todo.append(config))
        for row in cached:
            self._keep(row)
        if not self.is_current(request):
            return self._safe_notify("cancelled", request=request, done=0, total=total)
        self.notify("start", request=request, total=total, cached=len(cached))
        done = len(cached)
        if cached:
            self.notify("rows", request=request, rows=cached, done=done, total=total, eta_s=self._eta(todo))
        measured = 0
        for i, config in enumerate(todo):
            if not self.is_current(request):
                return self._safe_notify("cancelled", request=request, done=done, total=total)
            self.notify("progress", request=request, done=done, total=total, eta_s=self._eta(todo[i:]),
                        config=config)
            row = self._measure(config, request)
            measured += 1
            done += 1
            self._keep(row)
            if not self.is_current(request):  # stale while it ran: kept and stored, not drawn as current
                return self._safe_notify("cancelled", request=request, done=done, total=total)
            self.notify("rows", request=request, rows=[row], done=done, total=total, eta_s=self._eta(todo[i + 1:]))
        self.notify("done", request=request, measured=measured, cached=len(cached),
                    seconds=time.perf_counter() - started)

    def _measure(self, config: Config, request: Request | None = None) -> dict:
        self.calls += 1
        with MEASURING:
            started = time.perf_counter()
            if request is not None and getattr(self.bench, "stops_when_asked", False):
                # A bench that can stop mid-run (training, between epochs) stops once a newer request
                # made this one stale: the worker's own generation decides, whenever the new one came.
                row = self.bench.measure(config, should_stop=lambda: not self.is_current(request))
            else:
                row = self.bench.measure(config)
        seconds = time.perf_counter() - started
        if not row.get("error"):
            previous = self._estimates.get(config.model)
            self._estimates[config.model] = seconds if previous is None else 0.5 * previous + 0.5 * seconds
        return row
