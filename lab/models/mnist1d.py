"""Models on MNIST-1D: 1-D signals of length 40, 10 classes, generated offline.

The data come from the ``mnist1d`` package's own generator (``make_dataset``
with its default arguments: 5,000 signals, seed 42, the first 80 % for
training) — never its ``get_dataset``, which downloads a pickle. Generation is
deterministic, takes about a second, and is cached in memory. The lab uses it
because, small as it is, it still separates architectures (in its paper an MLP
reaches ~68 %, a CNN ~94 %).

- ``mnist1d-cnn``: input (n, 1, 40) — Conv1d-BatchNorm-ReLU chains;
- ``mnist1d-transformer``: input (n, 40) — patches of the signal as tokens
  through an ``nn.TransformerEncoder`` (whose inference fast path is what
  dynamic quantization trips on; see DESIGN.md).
"""
from __future__ import annotations

import functools
import random

import torch
from torch import nn

from lab.models.common import cycled, recorded_quality, scaled, shipped_builder, top1_accuracy
from lab.models.spec import ModelSpec

SIGNAL_LENGTH = 40


@functools.lru_cache(maxsize=1)
def mnist1d_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): x float32 (n, 40), standardised by the generator;
    y int64 (n,); 4,000 / 1,000 rows."""
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset  # imported late: it pulls in matplotlib

    # make_dataset seeds Python's and NumPy's global generators; put them back so
    # that generating the data never changes anyone else's random stream.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    as_x = functools.partial(torch.tensor, dtype=torch.float32)
    as_y = functools.partial(torch.tensor, dtype=torch.long)
    return as_x(data["x"]), as_y(data["y"]), as_x(data["x_test"]), as_y(data["y_test"])


def data_sha256() -> str:
    """sha256 of the generated split (float32 bytes, then labels): recorded in the manifests,
    so a change in the generator (a new mnist1d or NumPy) is caught, not mistaken for a model change."""
    import hashlib

    digest = hashlib.sha256()
    for tensor in mnist1d_split():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def make_signal_input(batch_size: int) -> torch.Tensor:
    """A batch of real held-out signals, shape (batch_size, 40), float32."""
    return cycled(mnist1d_split()[2], batch_size)


def make_channel_input(batch_size: int) -> torch.Tensor:
    """The same with a channel axis for the CNN, shape (batch_size, 1, 40)."""
    return make_signal_input(batch_size).unsqueeze(1)


def signal_accuracy(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) of a (n, 40) model on the 1,000 held-out signals."""
    _, _, x_test, y_test = mnist1d_split()
    return top1_accuracy(model, x_test, y_test, device, input_dtype)


def channel_accuracy(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Top-1 accuracy (0-1) of a (n, 1, 40) model on the 1,000 held-out signals."""
    _, _, x_test, y_test = mnist1d_split()
    return top1_accuracy(model, x_test.unsqueeze(1), y_test, device, input_dtype)


class Mnist1dCNN(nn.Module):
    """Conv1d-BatchNorm-ReLU x3 (1 -> 32 -> 64 -> 64 channels, kernel 5 then 3, the
    last two with stride 2: 40 -> 20 -> 10 positions), global average pool, Linear -> 10.
    The pool makes the classifier indifferent to where the digit sits in the
    signal, which is MNIST-1D's main nuisance. ``width`` scales every channel count."""

    CHANNELS = (32, 64, 64)

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (scaled(c, width) for c in self.CHANNELS)
        self.features = nn.Sequential(
            # bias=False: each BatchNorm right after has its own shift.
            nn.Conv1d(1, c1, 5, padding=2, bias=False), nn.BatchNorm1d(c1), nn.ReLU(),
            nn.Conv1d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(c2), nn.ReLU(),
            nn.Conv1d(c2, c3, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(c3), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(c3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 1, 40) -> logits (n, 10)."""
        return self.classifier(self.pool(self.features(x)).flatten(1))


class Mnist1dTransformer(nn.Module):
    """Patches of 4 samples -> 10 tokens of d_model 64 (+ a learned position
    embedding per token), 2 ``nn.TransformerEncoderLayer`` (4 heads, feed-forward 128,
    batch_first), mean over tokens, LayerNorm, Linear -> 10.

    ``width`` scales d_model and the feed-forward size; d_model is rounded to a
    multiple of the 4 heads (at least 4), since attention splits it evenly."""

    PATCH, D_MODEL, HEADS, FFN, LAYERS = 4, 64, 4, 128, 2

    def __init__(self, width: float = 1.0):
        super().__init__()
        d_model = self.HEADS * scaled(self.D_MODEL // self.HEADS, width)
        tokens = SIGNAL_LENGTH // self.PATCH
        self.embed = nn.Linear(self.PATCH, d_model)
        # A module, not a bare Parameter, so that torch-pruning's dependency graph sees it
        # and prunes its columns together with the embedding's rows.
        self.position = nn.Embedding(tokens, d_model)
        nn.init.normal_(self.position.weight, std=0.02)
        self.register_buffer("token_index", torch.arange(tokens), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, self.HEADS, dim_feedforward=scaled(self.FFN, width),
                                           dropout=0.1, batch_first=True)
        # enable_nested_tensor=False: there is no padding mask to pack, and it spares a warning.
        self.encoder = nn.TransformerEncoder(layer, self.LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.classifier = nn.Linear(d_model, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 40) -> logits (n, 10)."""
        tokens = self.embed(x.reshape(x.shape[0], -1, self.PATCH)) + self.position(self.token_index)  # (n, 10, d)
        return self.classifier(self.norm(self.encoder(tokens).mean(dim=1)))


# The width knob (build_width) is added by lab.models.registry, which knows lab.models.train.
SPECS = (
    ModelSpec(
        name="mnist1d-cnn", build=shipped_builder("mnist1d-cnn", Mnist1dCNN), make_input=make_channel_input,
        evaluate=channel_accuracy, train_data=lambda: (mnist1d_split()[0].unsqueeze(1), mnist1d_split()[1]),
        task="signal classification (MNIST-1D, length 40, 10 classes)", metric="accuracy",
        description="1-D CNN 3x(Conv1d-BN-ReLU) 32-64-64 + avg pool on MNIST-1D; input (n, 1, 40)",
        recorded_quality=recorded_quality("mnist1d-cnn"),
    ),
    ModelSpec(
        name="mnist1d-transformer", build=shipped_builder("mnist1d-transformer", Mnist1dTransformer),
        make_input=make_signal_input, evaluate=signal_accuracy, train_data=lambda: mnist1d_split()[:2],
        task="signal classification (MNIST-1D, length 40, 10 classes)", metric="accuracy",
        description="Transformer encoder (2 layers, d_model 64, 4 heads) over patches of 4 on MNIST-1D; "
                    "input (n, 40)",
        recorded_quality=recorded_quality("mnist1d-transformer"),
    ),
)
