"""Numbers in result rows: one definition of 'holds a number' (a leaf: imports nothing from the lab)."""
from __future__ import annotations

import math


def finite(value) -> float | None:
    """A column's value as a float, or None when it holds no number: missing (None), not a number,
    a bool, NaN or infinite. Derived columns use it so that an error row's missing input gives a
    missing output (None), never a made-up 0."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
