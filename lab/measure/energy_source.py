"""The interface every energy source implements, and small helpers they share.

Kept apart from `lab.measure.energy` so the source modules (rapl, nvml,
estimate) can import it without a cycle; `lab.measure.energy` re-exports it.
"""
from __future__ import annotations

import math

__all__ = ["EnergyUnavailable", "EnergySource", "WINDOW_UPDATES", "ENERGY_SOURCES"]

# Every value of the `energy_source` column, and what it covers.
ENERGY_SOURCES = {
    "nvml": "GPU board counter or sampled board power (whole board, all processes; host CPU not included)",
    "rapl": "CPU package (+ DRAM) counters (whole sockets, all processes; GPU not included)",
    "estimate": "not a measurement: process CPU time x W per core, or GPU utilization x TDP (energy_assumption)",
    "estimate-cpu-only": "a GPU run whose GPU energy could not be read: host CPU-time estimate only, "
                         "GPU not included (energy_note says why)",
}

# A window should span at least this many counter updates: the counter is
# quantised to one update, so 100 updates keep that error near 1 %.
WINDOW_UPDATES = 100


class EnergyUnavailable(Exception):
    """A source cannot be used here; str(exc) is the reason, in one line."""


class EnergySource:
    """A cumulative energy counter in joules.

    Subclasses set the attributes and implement `read_joules`:

    - name: a key of ENERGY_SOURCES (the `energy_source` column)
    - note: how the energy is obtained, in one line (the `energy_note` column)
    - assumption: what an estimate assumed (W per core and where that figure
      came from, or the GPU TDP); "" for a measured counter
    - reason: why this source and not a better one ("" when it is the best)
    - update_interval_s: how often the underlying counter changes (s)
    - min_window_s: shortest honest window (s), WINDOW_UPDATES x update_interval_s
    - max_power_w: the highest mean power (W) the source can honestly read
      (a GPU's power limit or TDP, CPUs x W per core for the CPU estimate);
      None when unknown (RAPL). Readings far above it are flagged.
    """

    name: str = ""
    note: str = ""
    assumption: str = ""
    reason: str = ""
    update_interval_s: float = 0.0
    min_window_s: float = 0.0
    max_power_w: float | None = None

    def read_joules(self) -> float:
        """Counter value in joules (J), monotonic while the source is open."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop any background sampling. Plain counters have nothing to stop."""

    def __enter__(self) -> "EnergySource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def positive(value) -> bool:
    """True for a finite number > 0 (bools excluded)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def one_line(exc: BaseException) -> str:
    """An exception as one line that names its type."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{text} ({type(exc).__name__})"
