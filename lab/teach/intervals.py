"""How sure is an accuracy measured on a finite test set? The Wilson score interval.

    from lab.teach import intervals
    intervals.wilson(0.95, 360)          # (0.9225..., 0.9682...): 95 % interval of 342 / 360 correct
    intervals.wilson_columns(df, n=1000) # df with accuracy_lo, accuracy_hi added

An accuracy is a count: ``correct`` of ``n`` held-out samples. With n = 360 (digits) one sample is
0.28 percentage points, with n = 1,000 (MNIST-1D) 0.1 points; two configurations whose intervals
overlap widely are not told apart by this test set. The Wilson interval (Wilson 1927) is the usual
choice for a proportion: unlike the normal ("Wald") interval p ± z·sqrt(p(1-p)/n), it stays inside
[0, 1] and does not shrink to a point at p = 0 or 1::

    centre = (p + z²/2n) / (1 + z²/n)
    half   = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)

It reads the test set as a sample of the task's data; it says nothing about a different data set.
Bad input raises lab.errors.FieldError (a ValueError).
"""
from __future__ import annotations

import math

from lab.errors import FieldError

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95 % interval


def wilson(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) Wilson score interval of an accuracy (fraction correct, 0-1) on ``n`` samples;
    z = 1.96 gives 95 %. The accuracy is rounded to the nearest whole count of n first."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise FieldError("n", n, "a whole number of test samples, 1 or more")
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
        raise FieldError("accuracy", accuracy, "a fraction correct from 0 to 1")
    if not z > 0:
        raise FieldError("z", z, "a positive number of standard deviations (1.96 for 95 %)")
    p = round(accuracy * n) / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if p == 0 else max(0.0, centre - half)   # exactly 0 and 1 at the ends, not a rounding away
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return low, high


def wilson_columns(df, n, column: str = "accuracy", z: float = Z95):
    """A copy of ``df`` with ``<column>_lo`` and ``<column>_hi`` (the Wilson interval) added. ``n`` is
    the test-set size: one number, or a mapping from the ``model`` column to it. Rows without an
    accuracy get NaN."""
    out = df.copy()
    lows, highs = [], []
    for _, row in out.iterrows():
        size = n.get(row["model"]) if isinstance(n, dict) else n
        value = row[column]
        if size is None or value is None or value != value:
            lows.append(float("nan"))
            highs.append(float("nan"))
        else:
            low, high = wilson(float(value), int(size), z)
            lows.append(low)
            highs.append(high)
    out[f"{column}_lo"], out[f"{column}_hi"] = lows, highs
    return out
