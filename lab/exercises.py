"""Checks for the notebooks' exercises: the student writes a small function, a check cell calls one of these.

    from lab import exercises
    exercises.check_scale(int8_scale)          # 04: the symmetric int8 scale of a tensor
    exercises.check_zero_fraction(zero_fraction)  # 03: the fraction of a tensor's weights that are zero

Each check calls the student's function on a few fixed tensors, compares the answer with the lab's own
(lab.teach), prints ``right`` or ``not yet: <why>`` (with a hint where the wrong answer is a common
one) and returns True or False. It never raises: a placeholder that raises NotImplementedError, a
function that crashes or returns the wrong type, all come back as "not yet", so Run All goes on.
"""
from __future__ import annotations

import math

import torch

from lab.teach import pruning, quantization

_RTOL = 1e-5


def _cases_scale() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.tensor([0.5, -0.25, 1.0, 0.0]),            # largest magnitude is positive
        torch.tensor([-3.0, 1.0, 2.0]),                  # largest magnitude is negative
        torch.randn(8, 16, generator=g) * 0.05,          # a small weight matrix
        torch.tensor([[0.1, -0.2], [0.4, -0.8]]),        # one scale for the whole tensor, not per row
    ]


def _cases_zeros() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(8, 16, generator=g)
    return [
        torch.tensor([0.0, 1.0, 0.0, -2.0]),                         # half
        torch.tensor([1e-4, -1e-5, 0.3, 0.0, 2.0]),                  # tiny weights are not zero
        w * pruning.masks(w, 0.3)["unstructured"],                   # pruned by lab.teach.pruning
        torch.zeros(3, 4),                                           # all zero
        w,                                                           # none zero
    ]


def _number(value) -> float | None:
    """A plain float from a Python number or a one-element tensor / array; None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        if hasattr(value, "numel") and value.numel() != 1:
            return None
        if hasattr(value, "size") and not hasattr(value, "numel") and getattr(value, "size", 1) != 1:
            return None
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_RTOL, abs_tol=1e-12)


def _shown(w: torch.Tensor) -> str:
    flat = w.reshape(-1)
    values = ", ".join(f"{float(v):.4g}" for v in flat[:6]) + (", ..." if flat.numel() > 6 else "")
    return f"tensor of shape {tuple(w.shape)} [{values}]"


def _call(fn, w: torch.Tensor):
    """(answer, None) or (None, why it failed); the tensor is passed as a copy the function may change."""
    if not callable(fn):
        return None, f"expected a function, got {type(fn).__name__}"
    try:
        return fn(w.clone()), None
    except NotImplementedError:
        return None, "your function raised NotImplementedError: the placeholder is still there, replace it with your code"
    except Exception as e:  # noqa: BLE001 — a student's bug is reported, never raised
        return None, f"your function raised {type(e).__name__}: {e}"


def _report(ok: bool, why: str = "") -> bool:
    print("right" if ok else f"not yet: {why}")
    return ok


def _answer(student_fn, w) -> tuple[float | None, str | None]:
    """(the student's answer for ``w`` as a number, None) or (None, why it is not one)."""
    answer, failed = _call(student_fn, w)
    if failed:
        return None, failed
    got = _number(answer)
    if got is None:
        return None, (f"for a {_shown(w)} your function returned {answer!r}; expected one number "
                      f"(a float or a one-element tensor)")
    return got, None


def check_scale(student_fn) -> bool:
    """``student_fn(w) -> scale``: the symmetric, per-tensor int8 scale of ``w``, max|w| / 127
    (lab.teach.quantization.affine_params(w, 8, symmetric=True)). True and "right" if it agrees on every case."""
    for w in _cases_scale():
        got, failed = _answer(student_fn, w)
        if failed:
            return _report(False, failed)
        expected = float(quantization.affine_params(w, 8, symmetric=True)[0])
        if _close(got, expected):
            continue
        top, a = float(w.max()), float(w.abs().max())
        hints = [
            (top / 127, "you divided the largest *value*; symmetric takes the largest *magnitude*, max|w| "
                        "(a negative weight can be the largest)"),
            (a / 128, "divide by 127, the largest positive int8 code (-128..127): max|w| must land on a code, "
                      "not beyond it"),
            (a / 255, "max|w| / 255 spreads the codes over 0..255; symmetric int8 uses -127..127 around zero-point 0"),
            ((float(w.max()) - float(w.min())) / 255, "that is the asymmetric scale, (max - min) / 255; "
                                                      "symmetric is max|w| / 127"),
            (127 / a if a else math.nan, "that is the inverse: scale is the real value of one step, max|w| / 127"),
            (a, "that is max|w| itself; divide it by 127 (the largest code) to get the step"),
        ]
        why = next((hint for value, hint in hints if not math.isnan(value) and _close(got, value)),
                   "expected max|w| / 127 over the whole tensor")
        return _report(False, f"for a {_shown(w)} your function returned {got:.6g}, expected {expected:.6g}: {why}")
    return _report(True)


def check_zero_fraction(student_fn) -> bool:
    """``student_fn(w) -> fraction``: the fraction (0-1) of ``w``'s entries that are exactly zero
    (for a pruned layer, the share of its weights pruning removed: lab.teach.pruning.removed_fraction)."""
    for w in _cases_zeros():
        got, failed = _answer(student_fn, w)
        if failed:
            return _report(False, failed)
        expected = pruning.removed_fraction(w != 0)
        if _close(got, expected):
            continue
        zeros, n = int((w == 0).sum()), w.numel()
        hints = [
            (float(zeros), "that is the count of zeros; divide by the number of weights (w.numel()) for a fraction"),
            (1.0 - expected, "that is the fraction *kept* (nonzero); the question asks for the zeros"),
            (float(n - zeros), "that is the count of nonzero weights"),
        ]
        tiny = bool(((w != 0) & (w.abs() < 1e-3)).any())
        why = next((hint for value, hint in hints if _close(got, value)),
                   "count only the entries exactly equal to 0 (tiny weights such as 1e-5 are not zero)" if tiny else
                   "count the entries exactly equal to 0, divided by the number of entries")
        return _report(False, f"for a {_shown(w)} your function returned {got:.6g}, expected {expected:.6g} "
                              f"({zeros} of {n} are zero): {why}")
    return _report(True)
