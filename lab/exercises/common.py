"""What every exercise check shares: calling the student's code safely, and saying right or not yet."""
from __future__ import annotations

import math

import torch

RTOL = 1e-5


def number(value, allow_nan: bool = False) -> float | None:
    """A plain float from a Python number or a one-element tensor / array; None if it is not one
    (NaN passes only with ``allow_nan``: an answer such as "never reached")."""
    if isinstance(value, (bool, str, bytes)) or value is None:  # "0.1" is text that looks like a number
        return None
    try:
        if hasattr(value, "numel") and value.numel() != 1:
            return None
        if hasattr(value, "size") and not hasattr(value, "numel") and getattr(value, "size", 1) != 1:
            return None
        as_float = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(as_float):
        return as_float if allow_nan else None
    return as_float if math.isfinite(as_float) else None


def close(a: float, b: float, rel_tol: float = RTOL, abs_tol: float = 1e-12) -> bool:
    """a and b agree within the tolerances; two NaNs agree (both say "none"), NaN and a number do not."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def shown(w: torch.Tensor) -> str:
    flat = w.reshape(-1)
    values = ", ".join(f"{float(v):.4g}" for v in flat[:6]) + (", ..." if flat.numel() > 6 else "")
    return f"tensor of shape {tuple(w.shape)} [{values}]"


def _copy(value):
    """A copy the student's function may change without changing the check's case."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    copy = getattr(value, "copy", None)  # DataFrames, dicts, lists
    return copy() if callable(copy) else value


def call(fn, *args):
    """(answer, None) or (None, why it failed); each argument is passed as a copy the function may change."""
    if not callable(fn):
        return None, f"expected a function, got {type(fn).__name__}"
    try:
        return fn(*(_copy(a) for a in args)), None
    except NotImplementedError:
        return None, "your function raised NotImplementedError: the placeholder is still there, replace it with your code"
    except Exception as e:  # noqa: BLE001 — a student's bug is reported, never raised
        return None, f"your function raised {type(e).__name__}: {e}"


def in_case(failed: str, case: str) -> str:
    """``failed`` (call's why) with the case it failed on in front, where the function raised on it;
    the placeholder's NotImplementedError is the same on every case, so it is left as it is."""
    raised = failed.startswith("your function raised") and "NotImplementedError" not in failed
    return f"for {case}, {failed}" if raised else failed


def report(ok: bool, why: str = "") -> bool:
    print("right" if ok else f"not yet: {why}")
    return ok


def answer(student_fn, w) -> tuple[float | None, str | None]:
    """(the student's answer for ``w`` as a number, None) or (None, why it is not one)."""
    result, failed = call(student_fn, w)
    if failed:
        return None, failed
    got = number(result)
    if got is None:
        return None, (f"for a {shown(w)} your function returned {result!r}; expected one number "
                      f"(a float or a one-element tensor)")
    return got, None


