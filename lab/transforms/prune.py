"""Pruning: ``prune(model, method, sparsity, ...) -> model``. (Methods beyond 'none' arrive with the pruning work.)"""
from __future__ import annotations

import dataclasses
from typing import Callable

from torch import nn


@dataclasses.dataclass(frozen=True)
class PruneMethod:
    name: str
    description: str
    apply: Callable[..., nn.Module]
    fixed_sparsity: float | None = None


METHODS: dict[str, PruneMethod] = {
    "none": PruneMethod("none", "no pruning", lambda model, sparsity, **_: model),
}
