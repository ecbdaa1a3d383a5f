"""ModelSpec: what the lab needs to know about a model (a leaf: imports nothing from the lab).

Built-in model modules (digits, mnist1d, minilm) describe their models with it;
lab.models.registry keeps them, and the user's own, by name.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the lab needs to know about a model.

    build:      returns a fresh nn.Module with its weights loaded, in eval mode, on the CPU
    make_input: batch_size -> input tensor (or tuple of tensors) for one forward pass, on the CPU
    evaluate:   (model, device, input_dtype) -> quality metric on held-out data; None if unknown
    metric:     name of the quality metric (e.g. 'accuracy'); higher is better
    train_data: () -> (inputs, labels) of the training split, on the CPU: for recovery
                fine-tuning (cross-entropy on the labels) and for calibrating static
                quantization; None when the model has none (those knobs then say so)
    build_width: width multiplier -> a fresh trained model of that width (trained on
                demand and cached); None for models without a width knob
    prune_ignore: module names (or globs, e.g. 'head', 'blocks.*.mix') every pruning method
                keeps whole: a layer whose width the model's code relies on, or one a method
                cannot prune (the structured method's one-line error names it)
    """

    name: str
    build: Callable[[], nn.Module]
    make_input: Callable[[int], torch.Tensor]
    evaluate: Callable[[nn.Module, torch.device, torch.dtype], float] | None = None
    train_data: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None
    build_width: Callable[[float], nn.Module] | None = None
    task: str = "custom"
    metric: str = "accuracy"
    description: str = ""
    recorded_quality: float | None = None  # the metric measured when the shipped weights were made
    prune_ignore: tuple[str, ...] = ()
