"""Models on scikit-learn's bundled digits (8x8 images, 10 classes; offline, no download).

The split is fixed (80/20, stratified, seed 0) so that the shipped weights'
recorded accuracy can be checked anywhere.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from lab.models import registry, weights

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test); x scaled to [0, 1], shape (n, 64), float32."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(range(len(y)), test_size=TEST_FRACTION, random_state=SPLIT_SEED,
                                           stratify=data.target)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


class DigitsMLP(nn.Module):
    """64 -> 1024 -> 1024 -> 1024 -> 10, ReLU. Wide enough that the matrix
    multiplies, not Python overhead, dominate a batch of 64 on a laptop CPU —
    so precision and pruning knobs have something real to act on."""

    def __init__(self, hidden: int = 1024, depth: int = 3):
        super().__init__()
        layers, width = [], 64
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_input(batch_size: int) -> torch.Tensor:
    """A batch of real held-out digits (cycled when batch_size > test set), shape (batch_size, 64)."""
    x_test = digits_split()[2]
    idx = torch.arange(batch_size) % len(x_test)
    return x_test[idx].contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) on the held-out split."""
    _, _, x_test, y_test = digits_split()
    logits = model(x_test.to(device=device, dtype=input_dtype))
    return (logits.argmax(dim=1).cpu() == y_test).float().mean().item()


def _build_mlp() -> nn.Module:
    model = DigitsMLP()
    model.load_state_dict(weights.load_state_dict("digits-mlp"))
    return model.eval()


def _recorded(name: str) -> float | None:
    try:
        return weights.manifest(name).get("accuracy")
    except FileNotFoundError:
        return None


registry.register(registry.ModelSpec(
    name="digits-mlp", build=_build_mlp, make_input=make_input, evaluate=accuracy, train_data=lambda: digits_split()[:2],
    task="image classification (8x8 digits, 10 classes)", metric="accuracy",
    description="MLP 64-1024-1024-1024-10 on scikit-learn digits",
    recorded_quality=_recorded("digits-mlp"),
))
