"""The model registry: built-in models and the user's own, by name.

A model is a ModelSpec: how to build it (trained weights included), how to make
an input batch of any size, and how to score it on held-out data. Everything
else in the lab (knobs, store, plots) works from these three functions, which
is all "bring your own model" needs::

    lab.register_model("my-net", build=lambda: net, make_input=lambda n: torch.randn(n, 32))
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


_REGISTRY: dict[str, ModelSpec] = {}
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    # Imported lazily: the built-in model modules import this one to register.
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from lab.models import digits, minilm, mnist1d  # noqa: F401


def register(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def register_model(name: str, build: Callable[[], nn.Module] | nn.Module, make_input: Callable[[int], torch.Tensor],
                   evaluate: Callable[[nn.Module, torch.device, torch.dtype], float] | None = None, *,
                   train_data: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None,
                   task: str = "custom", metric: str = "accuracy", description: str = "") -> ModelSpec:
    """Bring your own model: after this, ``Config(model=name, ...)`` works like a built-in.

    ``build`` may be an nn.Module (it is deep-copied for each configuration, so
    the lab's transforms never change your object) or a function returning one.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} is not allowed: a non-empty string")
    if isinstance(build, nn.Module):
        module = build

        def build():  # noqa: F811 — a fresh copy per configuration
            import copy
            return copy.deepcopy(module)
    if not callable(build) or not callable(make_input):
        raise ValueError("build and make_input must be callables (build may also be an nn.Module)")
    return register(ModelSpec(name=name, build=build, make_input=make_input, evaluate=evaluate,
                              train_data=train_data, task=task, metric=metric, description=description))


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"model={name!r} is not allowed: one of {', '.join(names())}") from None
