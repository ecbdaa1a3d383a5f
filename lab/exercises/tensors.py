"""Checks for the exercises on tensors: 04's int8 scale, 03's fraction of zeros."""
from __future__ import annotations

import math

import torch

from lab.exercises.common import answer, close, report, shown
from lab.teach import pruning, quantization


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


def check_scale(student_fn) -> bool:
    """``student_fn(w) -> scale``: the symmetric, per-tensor int8 scale of ``w``, max|w| / 127
    (lab.teach.quantization.affine_params(w, 8, symmetric=True)). True and "right" if it agrees on every case."""
    for w in _cases_scale():
        got, failed = answer(student_fn, w)
        if failed:
            return report(False, failed)
        expected = float(quantization.affine_params(w, 8, symmetric=True)[0])
        if close(got, expected):
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
        why = next((hint for value, hint in hints if not math.isnan(value) and close(got, value)),
                   "expected max|w| / 127 over the whole tensor")
        return report(False, f"for a {shown(w)} your function returned {got:.6g}, expected {expected:.6g}: {why}")
    return report(True)


def check_zero_fraction(student_fn) -> bool:
    """``student_fn(w) -> fraction``: the fraction (0-1) of ``w``'s entries that are exactly zero
    (for a pruned layer, the share of its weights pruning removed: lab.teach.pruning.removed_fraction)."""
    for w in _cases_zeros():
        got, failed = answer(student_fn, w)
        if failed:
            return report(False, failed)
        expected = pruning.removed_fraction(w != 0)
        if close(got, expected):
            continue
        zeros, n = int((w == 0).sum()), w.numel()
        hints = [
            (float(zeros), "that is the count of zeros; divide by the number of weights (w.numel()) for a fraction"),
            (1.0 - expected, "that is the fraction *kept* (nonzero); the question asks for the zeros"),
            (float(n - zeros), "that is the count of nonzero weights"),
        ]
        tiny = bool(((w != 0) & (w.abs() < 1e-3)).any())
        why = next((hint for value, hint in hints if close(got, value)),
                   "count only the entries exactly equal to 0 (tiny weights such as 1e-5 are not zero)" if tiny else
                   "count the entries exactly equal to 0, divided by the number of entries")
        return report(False, f"for a {shown(w)} your function returned {got:.6g}, expected {expected:.6g} "
                              f"({zeros} of {n} are zero): {why}")
    return report(True)
