"""Attention found by its structure, not its class name: ``find_attention(model, args)``.

Removing output channels of a q/k/v projection without head bookkeeping either breaks the
reshape into heads (a custom class: "shape '[2, 7, 4, 8]' is invalid for input of size 336")
or, where the reshape infers a dimension, silently mixes heads. torch-pruning can prune whole
heads, but only when told which layers are q/k/v and how many heads each has (``num_heads``);
it does not find them (its examples read model-specific attributes). So this is written by hand:
one forward pass under a TorchFunctionMode follows each nn.Linear's output through the ops
applied to it and records

- a *split*: a view / reshape / unflatten of a Linear's output (or a chunk of it) whose result
  gains dimensions and ends in a divisor of that width: (.., heads, head_dim) from heads*head_dim,
  or (.., 3, heads, head_dim) from a fused qkv projection;
- a *merge*: a tensor derived from a split, folded back (fewer dimensions) and read by a Linear:
  the output projection.

The attention module is the module that holds a split projection directly (the model itself
when q/k/v sit at its top level: then only the projections). nn.MultiheadAttention, whose
projections are raw parameters, is recognised by type.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree

_RESHAPES = {torch.Tensor.view, torch.Tensor.reshape, torch.reshape, torch.Tensor.unflatten, torch.unflatten,
             torch.Tensor.flatten, torch.flatten, torch.Tensor.view_as, torch.Tensor.reshape_as}
# Ops that mix channels: a Linear's channel tag does not survive them (head tags do, until a merge).
_MIXERS = {F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.mm, torch.einsum,
           torch.Tensor.bmm, torch.Tensor.mm, F.conv1d, F.conv2d, F.scaled_dot_product_attention}


@dataclasses.dataclass
class Attention:
    """modules: attention modules to keep whole (owners of split projections, nn.MultiheadAttention);
    projections: the q/k/v (split) and output (merge) Linears themselves."""

    modules: list[nn.Module]
    projections: list[nn.Linear]


class _Follow(TorchFunctionMode):
    """Tags tensors: ('lin', {Linear}) channels of a Linear's output; ('heads', {Linear}) split into
    heads; ('merged', {Linear}) folded back. Tags live for one forward pass (tensors kept alive)."""

    def __init__(self):
        super().__init__()
        self.tags: dict[int, tuple[str, frozenset]] = {}
        self.keep: list[torch.Tensor] = []
        self.split: set[nn.Linear] = set()

    def tag(self, t, tag) -> None:
        self.tags[id(t)] = tag
        self.keep.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        inputs = [t for t in _pytree.tree_leaves((args, kwargs or {})) if torch.is_tensor(t) and id(t) in self.tags]
        outputs = [t for t in _pytree.tree_leaves(result) if torch.is_tensor(t)]
        if not inputs or not outputs:
            return result
        source, (kind, linears) = inputs[0], self.tags[id(inputs[0])]
        if func in _RESHAPES and source.dim() and len(outputs) == 1:
            out = outputs[0]
            width = source.shape[-1]
            if kind == "lin" and out.dim() > source.dim() and out.shape[-1] < width and width % out.shape[-1] == 0:
                self.split |= linears
                self.tag(out, ("heads", linears))
            elif kind == "heads" and out.dim() < source.dim():
                self.tag(out, ("merged", linears))
            elif out.dim() and out.shape[-1] == width:
                self.tag(out, (kind, linears))
            return result
        if func in _MIXERS and kind != "heads":
            return result
        for out in outputs:  # elementwise ops, chunks, transposes, softmax, attention itself (heads)
            self.tag(out, (kind, linears))
        return result


def find_attention(model: nn.Module, args: tuple) -> Attention:
    """The attention in ``model``, found while running ``model(*args)`` once (no gradients)."""
    follow, merged_into = _Follow(), set()

    def before(module, inputs):
        if any(follow.tags.get(id(t), ("",))[0] == "merged" for t in inputs if torch.is_tensor(t)):
            merged_into.add(module)

    def after(module, _inputs, output):
        if torch.is_tensor(output):
            follow.tag(output, ("lin", frozenset([module])))

    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    hooks = [m.register_forward_pre_hook(before) for m in linears] + [m.register_forward_hook(after) for m in linears]
    try:
        with torch.no_grad(), follow:
            model(*args)
    finally:
        for h in hooks:
            h.remove()
    owners = {id(parent) for parent in model.modules() if parent is not model
              and any(child in follow.split for child in parent.children())}
    modules = [m for m in model.modules() if id(m) in owners or isinstance(m, nn.MultiheadAttention)]
    projections = [m for m in linears if m in follow.split or m in merged_into]
    return Attention(modules, projections)
