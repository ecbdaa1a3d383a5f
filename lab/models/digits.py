"""Models on scikit-learn's bundled digits (8x8 images, 10 classes; offline, no download).

The split is fixed (80/20, stratified, seed 0) so that the shipped weights'
recorded accuracy can be checked anywhere. Two models share it:

- ``digits-mlp``: the flattened image, shape (n, 64);
- ``digits-cnn``: the image, shape (n, 1, 8, 8) — the structured-pruning showcase.

The helpers every built-in family shares are in lab.models.common; the width
knob (training other widths on demand) is attached by lab.models.registry.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from lab.models import datasets
from lab.models.common import cycled, recorded_quality, scaled, shipped_builder, top1_accuracy
from lab.models.spec import ModelSpec

TEST_FRACTION = 0.2
SPLIT_SEED = 0


# --- data ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test); x scaled to [0, 1], shape (n, 64), float32; 1437 / 360 rows.

    scikit-learn's digits, split 80/20 (stratified, seed 0), as shipped in data/datasets/digits.npz
    (lab.models.datasets: checked against its sha256; made from scikit-learn where it is missing)."""
    arrays = datasets.load("digits")
    return tuple(torch.from_numpy(arrays[key]) for key in datasets.KEYS)


def image_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same split with x as images, shape (n, 1, 8, 8)."""
    x_train, y_train, x_test, y_test = digits_split()
    return x_train.view(-1, 1, 8, 8), y_train, x_test.view(-1, 1, 8, 8), y_test


def make_input(batch_size: int) -> torch.Tensor:
    """A batch of real held-out digits (cycled when batch_size > test set), shape (batch_size, 64)."""
    return cycled(digits_split()[2], batch_size)


def make_image_input(batch_size: int) -> torch.Tensor:
    """A batch of real held-out digit images, shape (batch_size, 1, 8, 8)."""
    return cycled(image_split()[2], batch_size)


def accuracy(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) of a (n, 64) model on the held-out split."""
    _, _, x_test, y_test = digits_split()
    return top1_accuracy(model, x_test, y_test, device, input_dtype)


def image_accuracy(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) of a (n, 1, 8, 8) model on the held-out split."""
    _, _, x_test, y_test = image_split()
    return top1_accuracy(model, x_test, y_test, device, input_dtype)


# --- models --------------------------------------------------------------------------------------

class DigitsMLP(nn.Module):
    """64 -> 1024 -> 1024 -> 1024 -> 10, ReLU. Wide enough that the matrix
    multiplies, not Python overhead, dominate a batch of 64 on a laptop CPU —
    so precision and pruning knobs have something real to act on.
    ``width`` scales the hidden size (0.5 -> 512)."""

    def __init__(self, hidden: int = 1024, depth: int = 3, width: float = 1.0):
        super().__init__()
        hidden = scaled(hidden, width)
        layers, size = [], 64
        for _ in range(depth):
            layers += [nn.Linear(size, hidden), nn.ReLU()]
            size = hidden
        layers.append(nn.Linear(size, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 64) in [0, 1] -> logits (n, 10)."""
        return self.net(x)


class DigitsCNN(nn.Module):
    """Three 3x3 Conv-BatchNorm-ReLU blocks at full 8x8 resolution (1 -> 32 -> 64 -> 64
    channels), global average pool, Linear -> 10.

    No pooling between the convolutions on purpose: at 8x8 every conv sees all 64
    pixels, so a batch of 64 costs ~0.45 GFLOP (several ms on one laptop core) and
    structured pruning, which removes whole channels, visibly cuts the time (half
    the channels ~ a quarter of the MACs). The Conv->BN->ReLU chains are what
    torch-pruning's dependency graph and conv-BN folding act on.
    ``width`` scales every channel count (0.5 -> 16, 32, 32)."""

    CHANNELS = (32, 64, 64)

    def __init__(self, width: float = 1.0):
        super().__init__()
        layers, size = [], 1
        for channels in self.CHANNELS:
            channels = scaled(channels, width)
            # bias=False: the BatchNorm right after has its own shift.
            layers += [nn.Conv2d(size, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
            size = channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(size, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 1, 8, 8) in [0, 1] -> logits (n, 10)."""
        return self.classifier(self.pool(self.features(x)).flatten(1))


# The width knob (build_width) is added by lab.models.registry, which knows lab.models.train.
SPECS = (
    ModelSpec(
        name="digits-mlp", build=shipped_builder("digits-mlp", DigitsMLP), make_input=make_input, evaluate=accuracy,
        train_data=lambda: digits_split()[:2],
        task="image classification (8x8 digits, 10 classes)", metric="accuracy",
        description="MLP 64-1024-1024-1024-10 on scikit-learn digits; input (n, 64)",
        recorded_quality=recorded_quality("digits-mlp"),
    ),
    ModelSpec(
        name="digits-cnn", build=shipped_builder("digits-cnn", DigitsCNN), make_input=make_image_input,
        evaluate=image_accuracy, train_data=lambda: image_split()[:2],
        task="image classification (8x8 digits, 10 classes)", metric="accuracy",
        description="CNN 3x(Conv3x3-BN-ReLU) 32-64-64 + avg pool on scikit-learn digits; input (n, 1, 8, 8)",
        recorded_quality=recorded_quality("digits-cnn"),
    ),
)
