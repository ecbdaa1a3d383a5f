"""Precision and quantization: ``quantize(model, scheme, device) -> model``.

One verb, a registry of schemes. Each scheme declares the devices it runs on;
asking for one elsewhere raises Unsupported with the reason, which the runner
stores as the row's ``error`` (a sweep goes on).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from lab.transforms import Unsupported


@dataclasses.dataclass(frozen=True)
class Scheme:
    """name: the ``quant`` column's value
    input_dtype: dtype floating inputs are cast to before the forward pass
    device_types: torch device types it runs on ('cpu', 'cuda', 'mps')
    apply: model (on the target device) -> quantized model
    """

    name: str
    input_dtype: torch.dtype
    device_types: tuple[str, ...]
    apply: Callable[[nn.Module], nn.Module]
    description: str = ""


SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> Scheme:
    SCHEMES[scheme.name] = scheme
    return scheme


register(Scheme("fp32", torch.float32, ("cpu", "cuda", "mps"), lambda m: m.float(), "32-bit float (reference)"))
register(Scheme("bf16", torch.bfloat16, ("cpu", "cuda", "mps"), lambda m: m.to(torch.bfloat16),
                "bfloat16 weights and activations (fast where the CPU has AVX512-BF16/AMX, or a GPU)"))
register(Scheme("fp16", torch.float16, ("cpu", "cuda", "mps"), lambda m: m.half(),
                "float16 weights and activations (GPUs; often slow on CPUs)"))


def get(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"quant={name!r} is not allowed: one of {', '.join(SCHEMES)}") from None


def quantize(model: nn.Module, scheme: str, device: str) -> nn.Module:
    """Return ``model`` converted to ``scheme`` for ``device`` (may modify it in place)."""
    s = get(scheme)
    device_type = torch.device(device).type
    if device_type not in s.device_types:
        raise Unsupported(f"quant={scheme} does not run on {device_type} (it runs on {', '.join(s.device_types)})")
    return s.apply(model)


def cast_input(x, scheme: str):
    """Cast floating input tensors (or tuples of them) to the scheme's input dtype; leave token ids alone."""
    dtype = get(scheme).input_dtype
    if isinstance(x, (tuple, list)):
        return type(x)(cast_input(t, scheme) for t in x)
    return x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x
