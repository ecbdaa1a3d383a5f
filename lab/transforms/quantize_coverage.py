"""What a quantization scheme actually quantized: ``coverage(model) -> dict``.

A scheme's name says int4 or fp8, but each converts only the layers it can:
the dynamic and weight-only schemes only nn.Linear, int4 and fp8 only the
Linear shapes their kernels take (digits-mlp's 10-wide output layer stays
bf16), int8-static also convolutions. ``coverage`` counts, by parameter
elements, what really ended up quantized, overall and per layer type.

Quantized weights are recognised in the three forms the lab's schemes leave:
- torch.ao quantized modules (int8-dynamic): the weight lives in a packed
  ScriptObject, read through ``_weight_bias()`` (a Linear's (weight, bias); a
  dynamic GRU / LSTM's {'weight': {name: tensor}, 'bias': {...}}, every layer and
  direction); its tensor ``is_quantized``;
- torchao tensor subclasses (Int8Tensor, Int4OpaqueTensor, Float8Tensor, the
  older AffineQuantizedTensor, ...): a parameter whose class derives from
  torchao's TorchAOBaseTensor or whose class name says it is quantized;
- a PT2E GraphModule (int8-static): int8 constants read by ``get_attr`` and
  dequantized in the graph; each is attributed to the layer type recorded in
  the consuming node's ``nn_module_stack``.
Plain tensors of an integer or float8 dtype count as quantized too. Buffers
(BatchNorm statistics, scales, zero points) are not weights and are not counted.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from lab.transforms.touched import is_low

_QUANTIZED_CLASS = re.compile(r"Quantized|^U?Int\d|^Intx|^Float8|^Fp8|^NF4|^MX")
_TORCHAO_BASES = ("TorchAOBaseTensor", "AffineQuantizedTensor", "LinearActivationQuantizedTensor")
_LOW_DTYPES = {torch.int8, torch.uint8, *(getattr(torch, n) for n in
                                          ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
                                          if hasattr(torch, n))}


def is_quantized(t: torch.Tensor) -> bool:
    """Whether a weight tensor holds quantized values (see the module docstring for the forms)."""
    if getattr(t, "is_quantized", False):
        return True
    names = [cls.__name__ for cls in type(t).__mro__]
    if type(t) not in (torch.Tensor, nn.Parameter) and (
            any(base in names for base in _TORCHAO_BASES) or _QUANTIZED_CLASS.search(type(t).__name__)):
        return True
    return type(t) in (torch.Tensor, nn.Parameter) and t.dtype in _LOW_DTYPES


def _add(counts: dict, kind: str, t: torch.Tensor, quantized: bool) -> None:
    total, done = counts.get(kind, (0, 0))
    counts[kind] = (total + t.numel(), done + (t.numel() if quantized else 0))


def _is_quant_op(node) -> bool:
    return node.op == "call_function" and "quantize" in str(node.target)  # quantize_/dequantize_per_*


def _layer_type(node) -> str:
    """The class name of the layer whose op consumes ``node`` (through quantize/dequantize ops)."""
    todo, seen = list(node.users), set()
    while todo:
        user = todo.pop(0)
        if user in seen:
            continue
        seen.add(user)
        if _is_quant_op(user):
            todo.extend(user.users)
            continue
        stack = user.meta.get("nn_module_stack") or {}
        if stack:
            kind = list(stack.values())[-1][1]
            kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
            return kind.rsplit(".", 1)[-1]
    return "unknown"


def _graph_counts(graph_module: torch.fx.GraphModule, counts: dict, seen: set) -> None:
    """Weights a graph reads with get_attr: parameters, and constants it dequantizes (quantized weights)."""
    params = {id(p) for p in graph_module.parameters()}
    for node in graph_module.graph.nodes:
        if node.op != "get_attr":
            continue
        t = graph_module
        for part in node.target.split("."):
            t = getattr(t, part)
        if not torch.is_tensor(t) or id(t) in seen:
            continue
        dequantized = any(_is_quant_op(u) and "dequantize" in str(u.target) and u.args and u.args[0] is node
                          for u in node.users)
        if id(t) not in params and not dequantized and not is_quantized(t):
            continue  # a scale, zero point or other buffer: not a weight
        seen.add(id(t))
        _add(counts, _layer_type(node), t, dequantized or is_quantized(t))


def _walk(module: nn.Module, counts: dict, seen: set) -> None:
    if isinstance(module, torch.fx.GraphModule):
        _graph_counts(module, counts, seen)
        return
    kind = type(module).__name__
    if type(module).__module__.startswith("torch.ao.nn.quantized") and hasattr(module, "_weight_bias"):
        if kind != "LinearPackedParams":  # its owner (the quantized Linear) reports it
            packed = module._weight_bias()
            if isinstance(packed, dict):  # a dynamic GRU / LSTM: {'weight': {...}, 'bias': {...}}
                packed = [t for part in packed.values() for t in part.values()]
            for t in packed:
                if torch.is_tensor(t):
                    _add(counts, kind, t, is_quantized(t))
        return
    for p in module._parameters.values():
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            _add(counts, kind, p, is_quantized(p))
    for b in module._buffers.values():  # a quantized weight some flow keeps as a buffer (not plain int masks)
        if b is not None and id(b) not in seen and is_quantized(b) and type(b) is not torch.Tensor:
            seen.add(id(b))
            _add(counts, kind, b, True)
    for child in module.children():
        _walk(child, counts, seen)


def coverage(model: nn.Module, scheme: str | None = None) -> dict:
    """The share of the model's weights (parameter elements, by count) that are quantized.

    scheme: the quantizing scheme asked for (None: a float model or unknown, never flagged)

    quantized_frac: quantized elements / all weight elements, 0-1 (biases, norms and layers a scheme
        skips count as not quantized; 0.0 for a float model)
    quantized_by_type: {layer type (class name): that share within the type}, e.g.
        {'Linear': 0.98, 'Conv2d': 0.0, 'BatchNorm2d': 0.0}; plain str -> float, ready for JSON
    quant_coverage_low: True when ``scheme`` quantized under half of the weights (touched.LOW_COVERAGE);
        a CoverageWarning then names the layer types it left in float
    Call it on quantize()'s result, before prune.accelerate() and torch.compile (which wrap or
    repack the weights). A torch.compile'd model is unwrapped (its ``_orig_mod``).
    """
    model = getattr(model, "_orig_mod", model)
    counts: dict[str, tuple[int, int]] = {}
    _walk(model, counts, set())
    total = sum(n for n, _ in counts.values())
    done = sum(q for _, q in counts.values())
    frac = done / total if total else 0.0
    left = ", ".join(f"{kind} {n - q}" for kind, (n, q) in counts.items() if n - q > 0)
    low = scheme is not None and is_low(frac, f"quant {scheme!r} quantized {frac:.0%} of the model's weights "
                                              f"(left in float, elements by layer type: {left})")
    return {"quantized_frac": frac, "quantized_by_type": {kind: q / n for kind, (n, q) in counts.items() if n},
            "quant_coverage_low": low}
