"""A slider's wait: while a slider is being dragged, ask once it has been still for a moment, not on
every step. One per panel (lab.widgets.panel.Dashboard, lab.widgets.live_panel.LivePanel)."""
from __future__ import annotations

import threading
import time
from typing import Callable


class Debounce:
    """Calls ``fire()`` (on a timer thread) ``delay_s`` after the last ``restart``, unless cancelled."""

    def __init__(self, fire: Callable[[], None]):
        self._fire = fire
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def restart(self, delay_s: float) -> None:
        """Wait ``delay_s`` from now (a wait already running is dropped)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(delay_s, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():
                return  # cancelled or replaced since
            self._timer = None
        self._fire()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def wait(self, deadline: float | None) -> bool:
        """Block until no wait is pending; False if time.perf_counter() passes ``deadline`` first."""
        while self._timer is not None:
            if deadline is not None and time.perf_counter() > deadline:
                return False
            time.sleep(0.005)
        return True
