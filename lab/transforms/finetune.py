"""Recovery fine-tuning after pruning: a few epochs of cross-entropy training.

``finetune(model, (x_train, y_train), epochs)`` trains ``model`` in place with
Adam. Weights of prunable layers that are exactly zero when it starts (the
pruned ones) stay zero: the mask is re-applied after every optimizer step, so
unstructured and 2:4 sparsity survive. Structured-pruned models have no such
zeros and simply train.

The runner calls this inside ``torch.inference_mode()``; training needs
autograd, so it switches inference mode off for its own duration and swaps any
inference-mode parameters for normal ones (``prune_base.normal_tensors``).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from lab.transforms.prune_base import normal_tensors, prunable_weights


def _check(epochs, lr, batch_size, max_seconds) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"finetune_epochs={epochs!r} is not allowed: a whole number from 0 up")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed: a whole number from 1 up")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr={lr!r} is not allowed: a positive learning rate")
    if max_seconds is not None and (not isinstance(max_seconds, (int, float)) or max_seconds < 0):
        raise ValueError(f"max_seconds={max_seconds!r} is not allowed: seconds (>= 0) or None")


def _batches(n: int, batch_size: int, generator: torch.Generator, needs_two: bool) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    if needs_two and len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()  # BatchNorm can't train on a batch of one sample
    return batches


def finetune(model: nn.Module, train_data: tuple[torch.Tensor, torch.Tensor], epochs: int, *, device: str = "cpu",
             lr: float = 1e-3, batch_size: int = 64, seed: int = 0, max_seconds: float | None = None) -> dict:
    """Fine-tune ``model`` (in place) on ``train_data`` = (inputs, integer class labels).

    epochs: passes over the training data; lr: Adam's learning rate; batch_size: samples per step
    seed: seeds the shuffling (a torch.Generator) and any dropout; same seed, same weights
    max_seconds: wall-clock budget (s); training stops after the batch that exceeds it
    Every floating-point parameter trains (requires_grad flags are restored afterwards).
    Returns {'finetune_epochs_done': whole epochs completed (a partial last epoch
    does not count, so a value below ``epochs`` means the time budget cut it short)}.
    The model is left in eval mode. It changes the model; it measures nothing (the runner
    times it and reads its energy).
    """
    _check(epochs, lr, batch_size, max_seconds)
    start = time.perf_counter()
    done = 0
    dev = torch.device(device)
    cuda_index = (dev.index if dev.index is not None else torch.cuda.current_device()) if dev.type == "cuda" else None
    # fork_rng restores the caller's RNG state afterwards; only the generators used here are touched
    # (seeding every CUDA device would start CUDA even for a CPU run).
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(
            devices=[] if cuda_index is None else [cuda_index]):
        torch.default_generator.manual_seed(seed)  # dropout and the like, on the CPU
        if cuda_index is not None:
            torch.cuda.default_generators[cuda_index].manual_seed(seed)
        normal_tensors(model)
        x, y = train_data
        # Clones are normal tensors (inputs made under inference mode can't be saved for backward).
        x, y = x.to(device).clone(), y.to(device=device, dtype=torch.long).clone()
        first = next((p for p in model.parameters() if p.is_floating_point()), None)
        if x.is_floating_point() and first is not None:
            x = x.to(first.dtype)
        weights = [getattr(m, k) for _, m, k in prunable_weights(model)]  # Linear/Conv, recurrent, attention
        masks = [(w, w.detach() != 0) for w in weights if not bool((w != 0).all())]
        params = [p for p in model.parameters() if p.is_floating_point()]
        requires_grad = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.Adam(params, lr=lr) if params and epochs else None
        needs_two = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        generator = torch.Generator().manual_seed(seed)

        def out_of_time() -> bool:
            return max_seconds is not None and time.perf_counter() - start > max_seconds

        model.train()
        try:
            for _ in range(epochs if optimizer is not None else 0):
                batches, ran = _batches(len(x), batch_size, generator, needs_two), 0
                for idx in batches:
                    optimizer.zero_grad(set_to_none=True)
                    F.cross_entropy(model(x[idx.to(x.device)]), y[idx.to(y.device)]).backward()
                    optimizer.step()
                    with torch.no_grad():
                        for weight, mask in masks:
                            weight.mul_(mask)  # pruned weights stay pruned (Adam's momentum would revive them)
                    ran += 1
                    if out_of_time():
                        break
                if ran == len(batches):  # a partial epoch does not count
                    done += 1
                if out_of_time():
                    break
        finally:
            model.eval()
            for p, flag in zip(params, requires_grad):
                p.requires_grad_(flag)
                p.grad = None
    return {"finetune_epochs_done": done}
