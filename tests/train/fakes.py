"""Fakes the training tests share: a contention meter that sees nobody else and an instant measure for
TrainBench (the stepping clock and energy counter are tests/helpers.py's StepClock and StepCounter)."""
from __future__ import annotations

import math

from lab.measure.contention import CpuContention


def quiet_meter(other_cpu_s_per_read: float = 0.0) -> CpuContention:
    """A contention meter whose 'others' use ``other_cpu_s_per_read`` CPU-seconds between reads over 1 s windows
    of 1 CPU: 0 -> never contended, 0.5 -> always contended."""
    state = {"busy": 0.0, "t": 0.0}

    def busy():
        state["busy"] += other_cpu_s_per_read
        return state["busy"]

    def tick():
        state["t"] += 0.5
        return state["t"]

    return CpuContention(busy_cpu_s=busy, own_cpu_s=lambda: 0.0, clock=tick, cpus=[0])


class FakeTrain:
    """An instant training measure for TrainBench: reached in 2 epochs, 1.5 s and 3 J per epoch.

    never: label_noise values whose runs never reach the target (best 0.5)."""

    def __init__(self, contended: bool = False, fail: bool = False, cancel: bool = False, never=()):
        self.calls, self.contended, self.fail, self.cancel, self.never = [], contended, fail, cancel, set(never)

    def __call__(self, config, *, on_epoch=None, should_stop=None):
        self.calls.append(config)
        if self.fail:
            raise RuntimeError("boom")
        if config.label_noise in self.never:
            curve = [{"epoch": 1, "seconds": 1.5, "energy_j": 3.0, "samples_seen": 100, "accuracy": 0.5,
                      "contended": False}]
            return {"reached": False, "tta_s": math.nan, "eta_j": math.nan, "best_accuracy": 0.5,
                    "final_accuracy": 0.5, "epochs": 1, "samples_seen": 100, "seconds": 1.5, "energy_j": 3.0,
                    "energy_source": "fake", "curve": curve, "contended": False, "error": None}
        curve = [{"epoch": e, "seconds": 1.5 * e, "energy_j": 3.0 * e, "samples_seen": 100 * e,
                  "accuracy": a, "contended": self.contended} for e, a in ((1, 0.5), (2, 0.97))]
        for point in curve:
            if on_epoch is not None:
                on_epoch(point)
        return {"reached": not self.cancel, "tta_s": 3.0 if not self.cancel else math.nan,
                "eta_j": 6.0 if not self.cancel else math.nan, "best_accuracy": 0.97, "final_accuracy": 0.97,
                "epochs": 2, "epochs_to_target": None if self.cancel else 2, "samples_seen": 200, "seconds": 3.0,
                "energy_j": 6.0, "energy_source": "fake",
                "curve": curve, "contended": self.contended, "error": "cancelled" if self.cancel else None}
