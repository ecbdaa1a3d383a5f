"""The per-sample work a loader does besides reading: shipped, deterministic transforms.

- ``augment``: a seeded random crop (shift by up to ``SHIFT`` positions with zero padding),
  a flip, and Gaussian noise — the usual light augmentation of an image pipeline, applied to
  the sample's own shape (8x8 digit images, 40-value MNIST-1D signals). Seeded by
  (seed, sample index), so a sample gets the same augmentation whichever worker makes it.
- ``burn_cpu(ms)``: ``sample_cost_ms`` of real CPU work per sample. It models what a heavier
  decode (JPEG, video frames, tokenizing long text) or a heavier augmentation costs: CPU time
  spent in the process that makes the sample, main or worker. It is arithmetic, not a sleep:
  a sleeping worker uses no CPU, so it would hide exactly what the loader's CPU costs (two
  workers that sleep run "in parallel" even on one core; two that compute do not).

Calibrated by the thread's own CPU clock (``time.thread_time``): each call burns ``ms`` of
this thread's CPU time whatever the CPU's speed, so 0.2 ms is 0.2 ms of a core on any machine
(on a busy machine it takes longer by the wall clock, as a real decode would).
"""
from __future__ import annotations

import time

import numpy as np
import torch

SHIFT = 2            # random crop: shift by up to 2 positions (of 8 pixels or 40 values)
NOISE_STD = 0.05     # Gaussian noise, in the units of the stored values
CHECK_EVERY = 64    # arithmetic steps between reads of the CPU clock (~5 us of work here)


def burn_cpu(ms: float, clock=time.thread_time) -> int:
    """Spend ``ms`` milliseconds of this thread's CPU time on integer arithmetic; returns the steps done.

    Written by hand (no library burns a set CPU time): a linear congruential generator."""
    if ms <= 0:
        return 0
    end = clock() + ms / 1e3
    x, steps = 12345, 0
    while clock() < end:
        for _ in range(CHECK_EVERY):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        steps += CHECK_EVERY
    return steps


class SampleWork:
    """What happens to one sample after it is read: augmentation, then ``cost_ms`` of CPU work.

    shape: the sample's natural shape ((8, 8) for digits, (40,) for MNIST-1D); the sample comes
    and goes flat. A plain class (not a lambda) so DataLoader workers can pickle it under spawn.
    """

    def __init__(self, shape: tuple[int, ...], *, augment: bool = True, cost_ms: float = 0.0, seed: int = 0):
        self.shape, self.augment, self.cost_ms, self.seed = tuple(shape), augment, float(cost_ms), int(seed)

    def __call__(self, x: np.ndarray, index: int) -> torch.Tensor:
        x = np.asarray(x, dtype=np.float32).reshape(self.shape)
        if self.augment:
            x = augment(x, np.random.default_rng([self.seed, int(index)]))
        burn_cpu(self.cost_ms)
        return torch.from_numpy(np.ascontiguousarray(x).reshape(-1))


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (shift by up to SHIFT along each axis longer than 1, zero padding), a flip of the last axis
    with probability 1/2, and Gaussian noise (std NOISE_STD). Same shape and dtype out."""
    pads = [SHIFT if n > 1 else 0 for n in x.shape]  # a (1, 40) signal shifts along its length only
    padded = np.pad(x, [(p, p) for p in pads])
    starts = [int(rng.integers(0, 2 * p + 1)) for p in pads]
    out = padded[tuple(slice(s, s + n) for s, n in zip(starts, x.shape))]
    if rng.random() < 0.5:
        out = out[..., ::-1]
    return (out + rng.normal(0.0, NOISE_STD, size=out.shape)).astype(np.float32)
