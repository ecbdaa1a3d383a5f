"""Checks for notebook 09's exercise: the student writes ``stall_fraction(wait_s, step_s)``, the share of a
loop's time spent waiting for the next batch, as lab.data.loop measures it (the time inside next(iterator)
over the loop's whole time)."""
from __future__ import annotations

import math

from lab.exercises.common import call, close, in_case, number, report

# (seconds each next(iterator) waited, seconds each model step took), per batch
CASES = [
    ([0.01, 0.01], [0.03, 0.03]),             # a quarter of the time waiting
    ([0.0, 0.1], [0.1, 0.1]),                 # one slow batch: totals, not an average of per-batch shares
    ([0.002] * 5, [0.0] * 5),                 # no model: the loader alone, all waiting
    ([0.0, 0.0, 0.0], [0.02, 0.01, 0.03]),    # data always ready: no stall
]


def expected(wait_s, step_s) -> float:
    """The lab's definition: total waiting / total loop time (wait + step), 0-1."""
    return sum(wait_s) / (sum(wait_s) + sum(step_s))


def _hints(wait_s, step_s) -> list[tuple[float, str]]:
    waited, stepped = sum(wait_s), sum(step_s)
    shares = [w / (w + s) for w, s in zip(wait_s, step_s) if w + s > 0]
    return [
        (waited / stepped if stepped else math.nan, "that is waiting / computing; divide by the loop's whole time, "
                                                    "waiting + computing"),
        (1 - expected(wait_s, step_s), "that is the share spent in the model step; the question asks for waiting"),
        (sum(shares) / len(shares), "an average of per-batch shares weighs a quick batch like a slow one; divide "
                                    "the total waiting by the total time"),
        (waited, "that is the total waiting in seconds; divide it by the loop's total time"),
    ]


def check_stall_fraction(student_fn) -> bool:
    """``student_fn(wait_s, step_s) -> fraction``: the share (0-1) of a loop's time spent waiting for data."""
    for wait_s, step_s in CASES:
        case = f"wait_s={wait_s}, step_s={step_s}"
        answer, failed = call(student_fn, wait_s, step_s)
        if failed:
            return report(False, in_case(failed, case))
        got, want = number(answer), expected(wait_s, step_s)
        if got is None:
            return report(False, f"for {case} your function returned {answer!r}; expected one number")
        if close(got, want, rel_tol=1e-6, abs_tol=1e-9):
            continue
        why = next((hint for value, hint in _hints(wait_s, step_s) if close(got, value, rel_tol=1e-6, abs_tol=1e-9)),
                   "add up the waiting, and divide by the loop's total time (waiting + model steps)")
        return report(False, f"for {case} your function returned {got:.6g}, expected {want:.6g}: {why}")
    return report(True)
