"""Four small architectures of the kind researchers bring (issue 12), with hand counts of their
parameters, for the transform tests: a Conv1d + GRU + LayerNorm classifier, an LSTM classifier,
a tiny transformer whose attention class has an arbitrary name (``Mixer``), and a Conv1d +
BatchNorm model. Each ``make()`` is seeded; ``example()`` is one batch of 3."""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class ConvGRU(nn.Module):
    """(N, 4, 20) -> Conv1d 4->16 (k3) -> GRU 16->32 -> LayerNorm(32) on the last step -> Linear 32->5."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 16, 3, padding=1)
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        seq, _ = self.gru(torch.relu(self.conv(x)).transpose(1, 2))
        return self.head(self.norm(seq[:, -1]))


class LSTMClassifier(nn.Module):
    """(N, 12, 8) -> Linear 8->16 -> 2-layer LSTM 16->24 -> Linear 24->4 on the final hidden state."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True)
        self.head = nn.Linear(24, 4)

    def forward(self, x):
        _, (h, _) = self.lstm(torch.relu(self.proj(x)))
        return self.head(h[-1])


class Mixer(nn.Module):
    """Self-attention under a name that says nothing: q/k/v Linears, a reshape into heads, an output Linear."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = (p(x).view(n, t, self.heads, d // self.heads).transpose(1, 2) for p in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1, self.mix = nn.LayerNorm(dim), Mixer(dim, heads)
        self.norm2, self.fc1, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.mix(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyTransformer(nn.Module):
    """tokens (N, 7) -> Embedding(50, 32) + a learned position parameter -> 2 Blocks (4 heads, MLP 64)
    -> mean over tokens -> Linear 32->3."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 32)
        self.pos = nn.Parameter(torch.randn(1, 7, 32) * 0.02)
        self.blocks = nn.Sequential(Block(32, 4, 64), Block(32, 4, 64))
        self.head = nn.Linear(32, 3)

    def forward(self, tokens):
        return self.head(self.blocks(self.embed(tokens) + self.pos).mean(dim=1))


class ConvBN(nn.Module):
    """(N, 2, 20) -> Conv1d 2->16 (k5) + BN -> Conv1d 16->32 (k3) + BN -> mean over time -> Linear 32->5."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv1d(2, 16, 5, padding=2), nn.BatchNorm1d(16)
        self.c2, self.b2 = nn.Conv1d(16, 32, 3, padding=1), nn.BatchNorm1d(32)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        x = torch.relu(self.b1(self.c1(x)))
        return self.head(torch.relu(self.b2(self.c2(x))).mean(dim=2))


@dataclasses.dataclass(frozen=True)
class Arch:
    """build: the model class; example: one input batch; out: its output shape.
    counts: {layer type: parameter elements} by hand; weights: {layer type: elements of the weights
    unstructured pruning zeroes}; linear_like: {layer type: weight elements int8-dynamic quantizes}."""

    build: type
    example: Callable[[], torch.Tensor]
    out: tuple[int, ...]
    counts: dict
    weights: dict
    dynamic: dict

    def make(self) -> nn.Module:
        torch.manual_seed(0)
        model = self.build().eval()
        with torch.no_grad():  # nonzero everywhere, so nonzero counts are element counts
            for p in model.parameters():
                p.add_(torch.where(p == 0, torch.full_like(p, 0.01), torch.zeros_like(p)))
        return model


def _gates(n: int, inp: int, hidden: int) -> tuple[int, int]:
    """(weight elements, bias elements) of one recurrent layer with n gates."""
    return n * hidden * (inp + hidden), 2 * n * hidden


GRU_W, GRU_B = _gates(3, 16, 32)  # 4608, 192
LSTM_W = _gates(4, 16, 24)[0] + _gates(4, 24, 24)[0]  # 4096 + 4608
LSTM_B = 2 * _gates(4, 16, 24)[1]  # 384
MIXER_W = 2 * 4 * 32 * 32  # two blocks of q, k, v, out
BLOCK_MLP_W = 2 * (32 * 64 + 64 * 32)

ARCHS = {
    "conv-gru": Arch(ConvGRU, lambda: torch.randn(3, 4, 20), (3, 5),
                     counts={"Conv1d": 4 * 16 * 3 + 16, "GRU": GRU_W + GRU_B, "LayerNorm": 64, "Linear": 165},
                     weights={"Conv1d": 192, "GRU": GRU_W, "Linear": 160},
                     dynamic={"GRU": GRU_W, "Linear": 160}),
    "lstm": Arch(LSTMClassifier, lambda: torch.randn(3, 12, 8), (3, 4),
                 counts={"Linear": 8 * 16 + 16 + 24 * 4 + 4, "LSTM": LSTM_W + LSTM_B},
                 weights={"Linear": 128 + 96, "LSTM": LSTM_W},
                 dynamic={"Linear": 128 + 96, "LSTM": LSTM_W}),
    "mixer-transformer": Arch(TinyTransformer, lambda: torch.randint(0, 50, (3, 7)), (3, 3),
                              counts={"Embedding": 1600, "TinyTransformer": 7 * 32, "LayerNorm": 4 * 64,
                                      "Linear": MIXER_W + 8 * 32 + BLOCK_MLP_W + 2 * (64 + 32) + 32 * 3 + 3},
                              weights={"Linear": MIXER_W + BLOCK_MLP_W + 96},
                              dynamic={"Linear": MIXER_W + BLOCK_MLP_W + 96}),
    "conv-bn": Arch(ConvBN, lambda: torch.randn(3, 2, 20), (3, 5),
                    counts={"Conv1d": 2 * 16 * 5 + 16 + 16 * 32 * 3 + 32, "BatchNorm1d": 2 * 48, "Linear": 165},
                    weights={"Conv1d": 160 + 1536, "Linear": 160},
                    dynamic={"Linear": 160}),
}


def total(counts: dict) -> int:
    return sum(counts.values())
