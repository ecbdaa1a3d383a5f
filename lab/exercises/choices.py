"""Checks for the exercises that choose among measured rows: 02's batch size for a latency target, 07's dominance."""
from __future__ import annotations

import pandas as pd

from lab.exercises.common import call, report


def _sweep(p99_ms: list[float], p50_ms: list[float] | None = None) -> pd.DataFrame:
    batches = [1, 8, 64, 512][:len(p99_ms)]
    p50_ms = p50_ms or [v * 0.8 for v in p99_ms]
    return pd.DataFrame({"batch_size": batches, "latency_ms_p50": p50_ms, "latency_ms_p99": p99_ms,
                         "throughput_sps": [b / (m / 1e3) for b, m in zip(batches, p50_ms)]})


def check_serving_batch(student_fn) -> bool:
    """``student_fn(rows, target_ms) -> batch size or None``: the largest batch size whose p99 latency is at most
    ``target_ms`` (the most throughput within the promise), or None when no batch size meets it."""
    cases = [
        (_sweep([0.3, 0.9, 4.0, 30.0]), 5.0, 64),
        (_sweep([0.3, 0.9, 4.0, 30.0]), 0.5, 1),
        (_sweep([0.3, 6.0, 4.5, 30.0]), 5.0, 64),          # a noisy point: batch 8's p99 misses, 64's meets
        (_sweep([0.3, 0.9, 6.0, 30.0], [0.2, 0.7, 4.0, 20.0]), 5.0, 8),   # p50 meets at 64, p99 does not
        (_sweep([7.0, 9.0, 12.0, 30.0]), 5.0, None),       # nothing meets it
    ]
    for rows, target, expected in cases:
        got, failed = call(student_fn, rows, target)
        if failed:
            return report(False, failed)
        got = None if got is None or got != got else got  # NaN counts as "none"
        if got == expected or (got is not None and expected is not None and int(got) == expected):
            continue
        p99 = ", ".join(f"{b}: {m:g}" for b, m in zip(rows["batch_size"], rows["latency_ms_p99"]))
        why = "the largest batch size whose p99 is at or under the target"
        if expected is None:
            why = "no batch size meets the target here: return None"
        elif got == rows.loc[rows["latency_ms_p50"] <= target, "batch_size"].max():
            why = "you used p50; the promise is about p99 (the slow tail is what a user notices)"
        elif got == rows.loc[rows["latency_ms_p99"] <= target, "batch_size"].min():
            why = "that is the smallest batch that meets it; the largest that meets it gives the most throughput"
        return report(False, f"for p99 by batch size {{{p99}}} ms and a {target:g} ms target your function returned "
                             f"{got!r}, expected {expected!r}: {why}")
    return report(True)


def check_dominates(student_fn) -> bool:
    """``student_fn(a, b) -> bool``: does configuration ``a`` dominate ``b``? Each is a dict with 'latency_ms_p50'
    (lower is better) and 'accuracy' (higher is better); a dominates b when it is at least as good on both and
    strictly better on at least one."""
    def point(ms, acc):
        return {"latency_ms_p50": ms, "accuracy": acc}

    cases = [
        (point(1.0, 0.95), point(2.0, 0.90), True, "faster and more accurate"),
        (point(1.0, 0.95), point(2.0, 0.95), True, "faster and as accurate"),
        (point(2.0, 0.96), point(2.0, 0.95), True, "as fast and more accurate"),
        (point(1.0, 0.90), point(2.0, 0.95), False, "faster but less accurate: a trade-off, no dominance"),
        (point(2.0, 0.95), point(2.0, 0.95), False, "equal on both: neither dominates the other"),
        (point(3.0, 0.80), point(2.0, 0.95), False, "slower and less accurate: b dominates a, not a b"),
    ]
    for a, b, expected, what in cases:
        got, failed = call(student_fn, a, b)
        if failed:
            return report(False, failed)
        if not isinstance(got, bool) and type(got).__name__ not in ("bool_", "bool"):
            return report(False, f"your function returned {got!r:.60}; expected True or False")
        if bool(got) == expected:
            continue
        hint = ("strictly better on both is too strict: at least as good on both and better on one is enough"
                if expected else "at least as good on both is not enough: it must also be strictly better on one")
        swapped, _ = call(student_fn, b, a)
        if a != b and swapped is not None and bool(swapped) == expected:  # right answer to the mirrored question
            hint = "check the directions: lower latency is better, higher accuracy is better"
        return report(False, f"a = {a}, b = {b} ({what}): your function said {bool(got)}, expected {expected}: {hint}")
    return report(True)
