"""Structured (channel / neuron) pruning with torch-pruning's dependency graph.

``prune_channels(model, ratio, example_input)`` removes ``ratio`` of the output
channels of every prunable layer (smallest L1 norm first) and everything that
depends on them — the following BatchNorm, the next layer's input channels,
the other branch of a residual add — so the model physically shrinks.

What is left alone, and why:
- the layer(s) that produce the model's output, so its output shape stays;
- attention (nn.MultiheadAttention, or any module whose class name says
  Attention, e.g. Hugging Face's BertAttention): torch-pruning can prune heads,
  but only with per-model configuration (num_heads, head dims); we keep
  attention whole and, through the dependency graph, the residual width it
  shares. In a transformer that leaves the MLP hidden width (linear1 -> linear2,
  BERT's intermediate -> output) to prune.

Anything torch-pruning can't trace or prune raises Unsupported with the reason;
the caller's model is untouched then (we prune a copy).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.utils import _pytree

from lab.errors import Unsupported
from lab.transforms.prune_base import normal_tensors

# Layers torch-pruning prunes as a group's root (its default root_module_types minus LSTM).
_ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


def _as_args(example_input) -> tuple:
    args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    # Inputs made under inference mode can't be saved for backward, which tracing records.
    return tuple(a.clone() if torch.is_tensor(a) and a.is_inference() else a for a in args)


def _output_shapes(model: nn.Module, args: tuple) -> list[tuple[int, ...]]:
    with torch.no_grad():
        out = model(*args)
    return [tuple(t.shape) for t in _pytree.tree_leaves(out) if torch.is_tensor(t)]


def _output_layers(model: nn.Module, args: tuple) -> list[nn.Module]:
    """The last Linear/Conv to run in a forward pass, plus any whose result *is* a model output.

    Forward hooks see the real call order (registration order can differ), so a
    head defined first but called last is still found.
    """
    calls: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, _in, out: calls.append((mod, out)))
             for m in model.modules() if isinstance(m, _ROOT_TYPES)]
    try:
        with torch.no_grad():
            outputs = [t for t in _pytree.tree_leaves(model(*args)) if torch.is_tensor(t)]
    finally:
        for h in hooks:
            h.remove()
    found = [calls[-1][0]] if calls else []
    found += [mod for mod, out in calls if any(out is o for o in outputs) and mod not in found]
    return found


def _attention(model: nn.Module) -> list[nn.Module]:
    """nn.MultiheadAttention, and by name any module that says it is attention (Hugging Face's
    BertAttention, timm's Attention, ...). Pruning their q/k/v channels without head bookkeeping
    mixes channels of different heads: the shapes still fit, the meaning doesn't."""
    return [m for m in model.modules()
            if isinstance(m, nn.MultiheadAttention) or "attention" in type(m).__name__.lower()]


def _check_widths(pruner, ratio: float) -> None:
    """Unsupported unless every prunable layer keeps at least one channel.

    torch-pruning keeps int(channels * (1 - ratio)) channels per layer and silently
    skips a layer that would keep none, so 0.99 would prune *less* than 0.9.
    """
    groups = pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types)
    widths = [pruner.DG.get_out_channels(group[0].dep.target.module) for group in groups]
    widths = [w for w in widths if w]
    if not widths:
        raise Unsupported("structured pruning found no channels it may remove "
                          "(only the output layer or attention, or nothing torch-pruning can trace)")
    narrow = [w for w in widths if w > 1 and int(w * (1 - ratio)) < 1]  # torch-pruning's own arithmetic
    if narrow:
        most = math.floor((1 - 1 / min(narrow)) * 1000) / 1000
        raise Unsupported(f"structured sparsity {ratio} would remove every channel of a {min(narrow)}-channel "
                          f"layer; at most {most} for this model")


def prune_channels(model: nn.Module, ratio: float, example_input) -> nn.Module:
    """A copy of ``model`` with ``ratio`` (0-1) of each layer's output channels removed."""
    if ratio == 0.0:
        return model
    try:
        import torch_pruning as tp
    except ImportError:
        raise Unsupported("structured pruning needs torch-pruning (pip install torch-pruning)") from None
    model = copy.deepcopy(model)
    with torch.inference_mode(False), torch.enable_grad():
        normal_tensors(model)
        args = _as_args(example_input)
        was_training = model.training
        requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
        model.eval()  # the tracing forward pass must not update BatchNorm running statistics
        for p in model.parameters():
            p.requires_grad_(p.is_floating_point())  # tracing follows grad_fn; frozen weights would be invisible
        shapes = _output_shapes(model, args)  # a model that fails here fails as itself, not as "unsupported"
        ignored = _output_layers(model, args) + _attention(model)
        try:
            pruner = tp.pruner.BasePruner(
                model, args, importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=ratio,
                global_pruning=False, ignored_layers=ignored, forward_fn=lambda m, a: m(*a),
                # Fresh dicts: torch-pruning 1.6 fills its mutable defaults, which would leak between calls.
                in_channel_groups={}, out_channel_groups={}, num_heads={}, channel_groups={})
            _check_widths(pruner, ratio)
            pruner.step()
            after = _output_shapes(model, args)
        except Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 — any failure inside torch-pruning is "can't prune this model"
            line = (str(exc).strip().splitlines() or [""])[0]
            raise Unsupported(f"structured pruning (torch-pruning) failed on this model: "
                              f"{type(exc).__name__}: {line}") from exc
        if after != shapes:
            raise Unsupported(f"structured pruning changed the model's output shape {shapes} -> {after}; "
                              "its output layer could not be kept whole")
        for name, p in model.named_parameters():  # the pruned layers hold new Parameters: restore the flags
            p.requires_grad_(requires_grad.get(name, p.requires_grad))
        model.train(was_training)
    return model
