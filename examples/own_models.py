"""Two models of your own, measured like the built-ins (examples/own_study.toml uses this file).

    python -m lab run --import examples/own_models.py --model conv-gru --quant fp32,int8-dynamic --quick
    python -m lab sweep examples/own_study.toml
    python -m lab figures examples/own_study.toml --out figures/own

``conv-gru``: a Conv1d + GRU + LayerNorm classifier reading each 8x8 digit as 8 rows of 8 pixels.
``digits-vit``: a small vision transformer (2x2 patches, 2 blocks) whose attention is its own
class, ``Mixer`` — nothing in its name says attention; the lab finds it by its structure.

Both train on scikit-learn's digits (the lab's shipped copy of the split, so this runs offline) for
a few seconds on first use, seeded, then stay in memory. Your own code would load trained weights.
"""
from __future__ import annotations

import copy
import functools

import torch
from torch import nn

import lab
from lab import hardware
from lab.models import datasets

CLASSES = 10


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): 8x8 images in [0, 1] as (n, 8, 8) float32, labels int64."""
    d = datasets.load("digits")
    return tuple(torch.from_numpy(d[k]).reshape(-1, 8, 8) if k.startswith("x") else torch.from_numpy(d[k])
                 for k in ("x_train", "y_train", "x_test", "y_test"))


class ConvGRU(nn.Module):
    def __init__(self, hidden: int = 64):
        super().__init__()
        self.conv = nn.Conv1d(8, 32, kernel_size=3, padding=1)  # over the 8 rows, 8 pixels as channels
        self.gru = nn.GRU(32, hidden, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x):  # (n, 8, 8): rows as steps
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        out, _ = self.gru(h)
        return self.head(self.norm(out[:, -1]))


class Mixer(nn.Module):
    """Multi-head self-attention, by another name: q, k, v from one projection, split into heads."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        mixed = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(mixed.transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.mix = nn.LayerNorm(dim), Mixer(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.mix(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DigitsViT(nn.Module):
    def __init__(self, dim: int = 64, heads: int = 4, depth: int = 2, patch: int = 2):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(patch * patch, dim)
        self.position = nn.Parameter(torch.zeros(1, (8 // patch) ** 2, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CLASSES)

    def forward(self, x):  # (n, 8, 8) -> 16 patches of 2x2
        n, p = x.shape[0], self.patch
        patches = x.reshape(n, 8 // p, p, 8 // p, p).permute(0, 1, 3, 2, 4).reshape(n, -1, p * p)
        h = self.blocks(self.embed(patches) + self.position)
        return self.head(self.norm(h).mean(1))


def train(model: nn.Module, epochs: int = 12, seed: int = 0) -> nn.Module:
    """A few seeded epochs of Adam on the training split (seconds on a laptop CPU), on one thread
    so the weights come out bit-identical in every process (the lab's reuse rule hashes them)."""
    torch.manual_seed(seed)
    x, y, _, _ = digits()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    with hardware.torch_threads(1):
        for _ in range(epochs):
            for idx in torch.randperm(len(x)).split(64):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                optimizer.step()
    return model.eval()


@functools.lru_cache(maxsize=None)
def _trained(name: str) -> nn.Module:
    torch.manual_seed(0)
    return train(ConvGRU() if name == "conv-gru" else DigitsViT())


def build_conv_gru() -> nn.Module:
    return copy.deepcopy(_trained("conv-gru"))


def build_digits_vit() -> nn.Module:
    return copy.deepcopy(_trained("digits-vit"))


def make_input(batch_size: int) -> torch.Tensor:
    """Test images, cycled to ``batch_size``: (batch_size, 8, 8) float32."""
    x = digits()[2]
    return x[torch.arange(batch_size) % len(x)]


@torch.no_grad()
def accuracy(model: nn.Module, device: torch.device, dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) on the held-out split; inputs cast to the scheme's ``dtype``."""
    _, _, x, y = digits()
    return (model(x.to(device, dtype)).argmax(1).cpu() == y).float().mean().item()


def train_data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _, _ = digits()
    return x, y


def register() -> None:
    for name, build, task in (
            ("conv-gru", build_conv_gru, "digits as 8 rows: Conv1d + GRU + LayerNorm"),
            ("digits-vit", build_digits_vit, "digits as 2x2 patches: a 2-block transformer (attention class 'Mixer')")):
        lab.register_model(name, build=build, make_input=make_input, evaluate=accuracy, train_data=train_data,
                           task=task, description="examples/own_models.py")


register()  # importing the file registers both (python -m lab ... --import examples/own_models.py)
