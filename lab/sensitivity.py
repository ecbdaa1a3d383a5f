"""Pruning sensitivity: accuracy when one layer at a time is pruned, as in the MIT efficient-ML lab.

    lab.sensitivity_scan("digits-cnn")          # a registered model, on the CPU
    scan(model, evaluate, sparsities=(0, 0.5))  # any module and scoring function

This is an analysis (it evaluates), so it lives above the transforms, which only change models.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import torch
from torch import nn

from lab import prepare
from lab.models import registry
from lab.transforms import prune
from lab.transforms.prune_base import prunable_layers

SPARSITIES = tuple(i / 10 for i in range(10))


def scan(model: nn.Module, evaluate: Callable[[nn.Module], float], sparsities: Iterable[float] = SPARSITIES,
         method: str = "unstructured", on_step: Callable[[int, int], None] | None = None):
    """Prune one layer at a time and evaluate, as in the MIT efficient-ML pruning lab.

    For each prunable layer (by module name) and each sparsity, only that layer is
    pruned — on a deep copy, so ``model`` is untouched — and ``evaluate(model)``
    scores it. method: 'unstructured' (L1) or 'random'. Returns a pandas
    DataFrame with columns layer, sparsity, accuracy, params (that layer's weight
    elements), one row per layer x sparsity. on_step(done, total) after each row.
    """
    import pandas as pd

    if method not in ("unstructured", "random"):
        raise ValueError(f"method={method!r} is not allowed: unstructured or random")
    sparsities = [prune.check_sparsity(prune.METHODS[method], s) for s in sparsities]
    work = copy.deepcopy(model)  # one copy; each layer is pruned, scored and restored in turn
    layers = prunable_layers(work)
    total, rows, dense = len(layers) * len(sparsities), [], None
    for name, layer in layers:
        original = layer.weight.detach().clone()
        for sparsity in sparsities:
            if sparsity == 0.0:  # nothing pruned: the unpruned model's score, measured once
                dense = evaluate(work) if dense is None else dense
                accuracy = dense
            else:
                prune.METHODS[method].apply(_OneLayer(layer), sparsity)
                accuracy = evaluate(work)
                with torch.no_grad():
                    layer.weight.copy_(original)
            rows.append({"layer": name, "sparsity": sparsity, "accuracy": accuracy, "params": original.numel()})
            if on_step is not None:
                on_step(len(rows), total)
    return pd.DataFrame(rows, columns=["layer", "sparsity", "accuracy", "params"])


class _OneLayer(nn.Module):
    """A container holding one layer, so the per-layer methods prune just it (in place, shared)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer


def sensitivity_scan(model: str, *, sparsities=SPARSITIES, method: str = "unstructured", width: float = 1.0,
                     on_step=None):
    """Accuracy against sparsity, one layer pruned at a time, for a registered model
    (DataFrame: layer, sparsity, accuracy, params), evaluated on the CPU in fp32."""
    spec = registry.get(model)
    if spec.evaluate is None:
        raise ValueError(f"model={model!r} is not allowed: the sensitivity scan needs a model with an evaluation")
    cpu = torch.device("cpu")
    with torch.inference_mode():
        return scan(copy.deepcopy(prepare.base_model(model, width)).eval(),
                    lambda m: spec.evaluate(m, cpu, torch.float32), sparsities=sparsities, method=method,
                    on_step=on_step)
