"""Helpers every built-in classifier family uses: the width rule, top-1 accuracy, the
recorded quality, the shipped-weights builder, cycling held-out rows into a batch.

A leaf below the model modules (it imports only lab.models.weights), so that
digits, mnist1d and minilm need not import one another.
"""
from __future__ import annotations

import torch
from torch import nn

from lab.models import weights


def scaled(count: int, width: float) -> int:
    """A channel or hidden-unit count scaled by the width multiplier: rounded, at least 1."""
    return max(1, round(count * width))


@torch.no_grad()
def top1_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  input_dtype: torch.dtype) -> float:
    """Fraction (0-1) of ``x`` whose highest logit is its label ``y``; one forward pass."""
    logits = model(x.to(device=device, dtype=input_dtype))
    return (logits.argmax(dim=1).cpu() == y).float().mean().item()


def recorded_quality(name: str) -> float | None:
    """The quality metric stored in NAME's manifest when its weights were made (None if not made yet)."""
    try:
        meta = weights.manifest(name)
    except FileNotFoundError:
        return None
    return meta.get(meta.get("metric", "accuracy"))


def shipped_builder(name: str, cls: type[nn.Module]):
    """``build`` for a spec: ``cls()`` with the shipped, hash-checked weights of NAME, in eval mode."""
    def build() -> nn.Module:
        model = cls()
        model.load_state_dict(weights.load_state_dict(name))
        return model.eval()
    return build


def cycled(x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Rows of ``x`` (real held-out samples), repeated when the batch is larger than ``x``."""
    return x[torch.arange(batch_size) % len(x)].contiguous()
