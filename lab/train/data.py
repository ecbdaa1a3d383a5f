"""The training-data knobs as pure, seeded transforms: label noise and data kept.

- ``noisy_labels``: exactly ``round(fraction * n)`` labels replaced by a *different* class, each
  drawn uniformly from the other classes (so a replaced label is always wrong).
- ``random_subset`` / ``hardest``: the indices of exactly ``max(1, round(fraction * n))`` training
  examples (``keep_count``): a seeded random subset, or the highest EL2N scores (``el2n_scores``).

Why EL2N, and why the hardest: Paul et al. (NeurIPS 2021, "Deep Learning on a Data Diet") score each
example by the L2 norm of its error vector, ||softmax(f(x)) - onehot(y)||_2, early in training (a few
epochs), and show that dropping the lowest-scoring (easiest) examples keeps test accuracy at moderate
pruning fractions, while random pruning loses it sooner. Sorscher et al. (NeurIPS 2022) add the caveat
that keeping the hard examples is right when data is plentiful and the easy ones when it is scarce;
Paul et al. also note that the very highest scores are often mislabeled examples, so under label noise
keeping the hardest keeps the garbage too. The lab keeps the hardest and lets the figures show that.
(One proxy run, not their average over 10 initializations: the cost of scoring is part of the row.)

Each transform draws from its own stream of the seed (numpy's SeedSequence spawned by a stream
number), so changing one knob never shifts another's random choices.
"""
from __future__ import annotations

import numpy as np
import torch

NOISE_STREAM = 1
KEEP_STREAM = 2


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def noise_count(fraction: float, n: int) -> int:
    """How many of ``n`` labels a ``fraction`` of label noise replaces: round(fraction * n) (Python's round)."""
    return round(fraction * n)


def noisy_labels(y: torch.Tensor, fraction: float, seed: int, num_classes: int) -> tuple[torch.Tensor, np.ndarray]:
    """(labels with exactly noise_count(fraction, len(y)) replaced by another class, the replaced indices).

    ``y`` is not changed; the replaced indices are sorted."""
    n = len(y)
    count = noise_count(fraction, n)
    if count == 0:
        return y.clone(), np.empty(0, dtype=np.int64)
    if num_classes < 2:
        raise ValueError(f"label_noise={fraction!r} needs at least 2 classes, got {num_classes}")
    rng = _rng(seed, NOISE_STREAM)
    chosen = np.sort(rng.choice(n, size=count, replace=False))
    # Adding 1..C-1 modulo C lands on each of the other classes with equal chance, never on the true one.
    shift = rng.integers(1, num_classes, size=count)
    out = y.clone()
    out[torch.from_numpy(chosen)] = (y[torch.from_numpy(chosen)] + torch.from_numpy(shift)) % num_classes
    return out, chosen


def keep_count(fraction: float, n: int) -> int:
    """How many of ``n`` examples a ``data_kept`` fraction keeps: round(fraction * n), at least 1."""
    return max(1, round(fraction * n))


def random_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of exactly keep_count(fraction, n) of range(n)."""
    count = keep_count(fraction, n)
    if count >= n:
        return np.arange(n)
    return np.sort(_rng(seed, KEEP_STREAM).choice(n, size=count, replace=False))


def hardest(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Sorted indices of the keep_count(fraction, n) highest scores (ties: the lower index first)."""
    scores = np.asarray(scores, dtype=np.float64)
    count = keep_count(fraction, len(scores))
    order = np.lexsort((np.arange(len(scores)), -scores))  # by score descending, then index ascending
    return np.sort(order[:count])


@torch.no_grad()
def el2n_scores(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                batch_size: int = 512) -> np.ndarray:
    """EL2N score of each example (Paul et al. 2021): ||softmax(model(x)) - onehot(y)||_2, in 0..sqrt(2)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        probs = torch.softmax(model(x[start:start + batch_size]).float(), dim=1)
        onehot = torch.nn.functional.one_hot(y[start:start + batch_size], num_classes).float()
        out.append(torch.linalg.vector_norm(probs - onehot, dim=1))
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64)
