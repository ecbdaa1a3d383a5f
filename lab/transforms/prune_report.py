"""What pruning actually removed: ``sparsity_report`` (the zeros and what they are worth stored
sparse) and ``coverage`` (what share of the original parameters and FLOPs is gone).

Why both: the ``sparsity`` knob means a different quantity per method (each
``PruneMethod.sparsity_means`` says which), and ``sparsity_reached`` only counts
zeros. Structured pruning *removes* channels instead of zeroing them, so on
digits-cnn at sparsity 0.5 its ``sparsity_reached`` is 0.0 while 74 % of the
parameters and 75 % of the FLOPs are gone; ``coverage`` reports that.

    before = nonzero_by_type(model)               # before pruning (unstructured prunes in place)
    flops_before = count_flops(model)             # the caller's FLOP counter, optional
    pruned = prune(model, "structured", 0.5, example_input=x)
    coverage(before, pruned, flops_before, count_flops(pruned))
"""
from __future__ import annotations

import io
from typing import Mapping

import torch
from torch import nn

from lab.numbers import finite
from lab.transforms.prune_base import REPORT_ATTR, prunable_weights
from lab.transforms.touched import is_low

MIB = 1024 * 1024


def _count_nonzero(t: torch.Tensor) -> int:
    if type(t) in (torch.Tensor, nn.Parameter):
        return int(torch.count_nonzero(t))
    try:  # a tensor subclass, e.g. a semi-structured sparse weight after accelerate(): count its dense form
        return int(torch.count_nonzero(t.to_dense()))
    except Exception:  # noqa: BLE001 — an opaque packed format: count every element as nonzero
        return t.numel()


def sparsity_report(model: nn.Module) -> dict:
    """What pruning left, and what its zeros would save if stored sparse.

    params: parameter elements (count); nonzero_params: those that are not zero
    sparsity_reached: zeros / elements over the prunable weights (``prunable_weights``: Linear/Conv,
        recurrent and attention projections; 0.0 for a dense model). Only zeros count: a
        structured-pruned model is smaller, not sparser, and reads 0.0 here (see coverage)
    sparse_size_mib: MiB of the state_dict as torch.save writes it, with every prunable weight
        (conv weights flattened to 2-D) in CSR: int64 row pointers (rows + 1) and column indices
        (one per nonzero) and the nonzero values, instead of the dense tensor. CSR stores an
        int64 index per nonzero, so below roughly two-thirds sparsity (fp32) it is *larger* than
        dense — the honest answer. Computed from the dense file's size and those arrays' bytes
        (``csr_bytes``), not by converting: a conversion of minilm's 22 M weights took 0.3 s of
        every transform; tests/transforms/test_prune.py checks the arithmetic against torch.save
        of real CSR tensors to within 1 KiB per weight (the file's per-tensor records).
    """
    with torch.no_grad():
        params = list(model.parameters())
        found = prunable_weights(model)
        weights = [getattr(m, k) for _, m, k in found]
        nonzero = [_count_nonzero(w) for w in weights]
        elements = sum(w.numel() for w in weights)
        zeros = elements - sum(nonzero)
        names = {f"{name}.{k}" if name else k for name, _, k in found}
        state = model.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        delta = sum(csr_bytes(value, _count_nonzero(value)) - value.numel() * value.element_size()
                    for key, value in state.items()
                    if key in names and type(value) is torch.Tensor and value.dim() >= 2)
    return {"params": sum(p.numel() for p in params),
            "nonzero_params": sum(_count_nonzero(p) for p in params),
            "sparsity_reached": zeros / elements if elements else 0.0,
            "sparse_size_mib": (buffer.tell() + delta) / MIB}


def csr_bytes(weight: torch.Tensor, nonzero: int) -> int:
    """Bytes of ``weight`` (flattened to 2-D: rows = its first dimension) in CSR with ``nonzero``
    entries: int64 row pointers, int64 column indices, values in the weight's dtype."""
    rows = weight.shape[0]
    return (rows + 1) * 8 + nonzero * 8 + nonzero * weight.element_size()


def _by_type(model: nn.Module) -> tuple[dict[str, int], dict[str, int]]:
    """({layer type: parameter elements}, {layer type: nonzero elements}); the type is the class name
    of the module that holds the parameter directly (a Conv2d's weight and bias count as Conv2d);
    a tied parameter counts once, for the first module that holds it."""
    elements: dict[str, int] = {}
    nonzero: dict[str, int] = {}
    seen: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            kind = type(module).__name__
            for p in module._parameters.values():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                elements[kind] = elements.get(kind, 0) + p.numel()
                nonzero[kind] = nonzero.get(kind, 0) + _count_nonzero(p)
    return elements, nonzero


def nonzero_by_type(model: nn.Module) -> dict[str, int]:
    """Nonzero parameter elements by layer type, e.g. {'Conv2d': 55584, 'BatchNorm2d': 160, 'Linear': 650}:
    take it *before* pruning (unstructured methods prune in place) and hand it to ``coverage``.
    Zeros the model starts with (a BatchNorm's zero-initialised shift) are left out: pruning can't
    remove what is already zero."""
    return _by_type(model)[1]


def coverage(before: Mapping[str, int] | nn.Module | int, after: nn.Module, flops_before=None,
             flops_after=None) -> dict:
    """What pruning removed, against the model before it.

    before: ``nonzero_by_type(model)`` taken before pruning, or the unpruned model itself (not the same
        object pruned in place), or just its nonzero parameter count (``sparsity_report(model)
        ['nonzero_params']``; then ``pruned_by_type`` is None)
    after: the pruned model (before quantization: packed quantized weights are not parameters)
    flops_before, flops_after: FLOPs per sample before and after (any one counter, the same for
        both); either missing gives flops_removed_frac None

    params_removed_frac: 1 - nonzero params after / nonzero params before: the share of the original
        parameters that pruning removed (structured) or zeroed (unstructured, 2:4), 0-1. Comparable
        across methods, unlike the sparsity knob
    flops_removed_frac: 1 - flops_after / flops_before (0-1). Zeros do not lower a dense FLOP
        count, so unstructured and 2:4 pruning read 0.0 here: only removed channels save FLOPs
    pruned_by_type: {layer type: params_removed_frac within that type}
    zero_by_type: {layer type: share of the parameters left after pruning that are zero}
    The dicts are plain str -> float, ready for JSON.
    From the ``PruneReport`` prune() leaves on ``after`` (None / False when it has none: no pruning):
    params_touched_frac: share of the model's parameters (by count, 0-1) in tensors pruning changed
    prune_skipped: {layer type: why the method left it}, e.g. {'LayerNorm': 'norms are not pruned: ...'}
    prune_coverage_low: True when the method touched under half of the parameters (touched.LOW_COVERAGE);
        a CoverageWarning then names what it skipped
    """
    if isinstance(before, nn.Module):
        before = nonzero_by_type(before)
    if isinstance(before, Mapping):
        counts_before, total_before = dict(before), sum(before.values())
    elif isinstance(before, int) and not isinstance(before, bool) and before >= 0:
        counts_before, total_before = None, before
    else:
        raise ValueError(f"before={before!r} is not allowed: nonzero_by_type(model), the unpruned model, "
                         "or its nonzero parameter count")
    elements, nonzero = _by_type(after)
    removed = 1 - sum(nonzero.values()) / total_before if total_before else 0.0
    fb, fa = finite(flops_before), finite(flops_after)
    flops_removed = 1 - fa / fb if fb is not None and fa is not None and fb > 0 else None
    pruned_by_type = None if counts_before is None else {
        kind: 1 - nonzero.get(kind, 0) / n for kind, n in counts_before.items() if n > 0}
    zero_by_type = {kind: (n - nonzero[kind]) / n for kind, n in elements.items() if n > 0}
    return {"params_removed_frac": removed, "flops_removed_frac": flops_removed,
            "pruned_by_type": pruned_by_type, "zero_by_type": zero_by_type, **touched(after)}


def touched(after: nn.Module) -> dict:
    """params_touched_frac, prune_skipped, prune_coverage_low from the model's PruneReport (see coverage)."""
    report = getattr(after, REPORT_ATTR, None)
    if report is None:
        return {"params_touched_frac": None, "prune_skipped": None, "prune_coverage_low": False}
    left = "; ".join(f"{kind}: {why}" for kind, why in report.skipped.items()) or "nothing reported"
    low = is_low(report.touched_frac, f"prune_method {report.method!r} at sparsity {report.sparsity} touched "
                                      f"{report.touched_frac:.0%} of the model's parameters (left: {left})")
    return {"params_touched_frac": report.touched_frac, "prune_skipped": dict(report.skipped),
            "prune_coverage_low": low}
