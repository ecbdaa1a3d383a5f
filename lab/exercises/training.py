"""Checks for notebook 10's exercise: read energy-to-accuracy off a training curve, as the training panel's
star marks it. The reference answer is lab.train.time_to_accuracy, where every training row's eta_j comes from."""
from __future__ import annotations

import copy
import math

from lab.exercises.common import call, close, in_case, number, report
from lab.train import time_to_accuracy


def _point(epoch, seconds, joules, accuracy) -> dict:
    return {"epoch": epoch, "seconds": seconds, "energy_j": joules, "samples_seen": 1000 * epoch, "accuracy": accuracy}


def cases() -> list[tuple[list[dict], float, str]]:
    """(curve, target, what the case is about): the curves the check runs the student's function on."""
    rising = [_point(1, 1.5, 12.0, 0.71), _point(2, 3.1, 24.5, 0.86), _point(3, 4.6, 36.0, 0.93),
              _point(4, 6.2, 49.0, 0.95)]
    dipping = [_point(1, 1.4, 11.0, 0.80), _point(2, 2.9, 23.0, 0.91), _point(3, 4.3, 34.0, 0.88),
               _point(4, 5.8, 46.0, 0.94)]
    exact = [_point(1, 2.0, 15.0, 0.82), _point(2, 4.0, 30.0, 0.90), _point(3, 6.0, 45.0, 0.97)]
    never = [_point(1, 2.0, 15.0, 0.52), _point(2, 4.0, 31.0, 0.61), _point(3, 6.0, 46.0, 0.64)]
    return [(rising, 0.9, "a curve that rises"),
            (dipping, 0.9, "a curve that reaches the target, dips under it, and comes back"),
            (exact, 0.9, "a point exactly at the target"),
            (never, 0.9, "a run that never reaches the target (noisy labels)")]


def check_energy_to_accuracy(student_fn) -> bool:
    """``student_fn(curve, target) -> joules``: the energy (J) at the first curve point whose accuracy is at or
    above ``target`` (energy-to-accuracy, ETA), or math.nan when no point reaches it."""
    for curve, target, about in cases():
        answer, failed = call(student_fn, copy.deepcopy(curve), target)
        if failed:
            return report(False, in_case(failed, about))
        got, expected = number(answer, allow_nan=True), time_to_accuracy(curve, target)["eta_j"]
        if got is None:
            return report(False, f"for {about}, your function returned {answer!r}; expected a number of joules "
                                  "(math.nan when the target is never reached)")
        if close(got, expected, rel_tol=1e-9):
            continue
        hints = [
            (next((p["energy_j"] for p in curve if p["accuracy"] > target), math.nan),
             "'reaches' means at or above the target (>=), not strictly above"),
            (curve[-1]["energy_j"], "that is the energy at the end of the run; ETA is the energy at the *first* "
                                    "epoch whose accuracy reaches the target"),
            (next((p["seconds"] for p in curve if p["accuracy"] >= target), math.nan),
             "that is the time (s) it took; the question asks for the energy_j of that point"),
            (max(curve, key=lambda p: p["accuracy"])["energy_j"], "that is the energy at the best accuracy; "
                                                                  "ETA stops the clock at the first point at the target"),
            (0.0, "a run that never reaches the target has no ETA: return math.nan, not 0 (0 J would look free)"),
        ]
        why = hints[-1][1] if math.isnan(expected) else next(
            (hint for value, hint in hints if close(got, value, rel_tol=1e-9)), "expected the energy_j of the first point with "
                                                                  "accuracy >= target")
        return report(False, f"for {about} (target {target}), your function returned {got:g} J, expected "
                              f"{expected:g} J: {why}")
    return report(True)
