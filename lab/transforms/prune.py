"""Pruning: ``prune(model, method, sparsity, example_input=..., device=...) -> model``.

One verb, a registry of methods (METHODS), like quantize.py; each entry carries
its facts (``PruneMethod`` in prune_base.py): the devices it runs on
(``reason(device)``, or ``supported(method, device)``) and what its sparsity
knob means (``sparsity_means``). ``sparsity`` is a fraction from 0 up to (not
including) 1, but not the same quantity for every method:

- unstructured methods zero that fraction of the prunable weights (Linear /
  Conv1d / Conv2d weights, recurrent layers' weight_ih / weight_hh, nn.MultiheadAttention's
  q/k/v projections; never biases, norms or embeddings). The mask is made
  permanent, so the result is a plain module with zeros in it: same shapes, same
  state_dict keys, same dense speed — only a sparse format or a sparse kernel
  turns the zeros into savings (see ``sparsity_report``'s ``sparse_size_mib``);
- 'structured' removes that fraction of the output channels / neurons of each
  layer (torch-pruning), so params, FLOPs and latency really drop; the next
  layer loses the matching inputs too, so 0.5 removes about 75 % of a conv
  chain's weights (digits-cnn: 74 % of its parameters, 75 % of its FLOPs);
- '2:4' is fixed at 0.5: it zeros 2 of every 4 weights along each eligible
  Linear's input dim; after precision, ``accelerate`` hands those weights to the
  GPU's sparse kernel.

A method that cannot run on the device or the model raises Unsupported (the
runner stores the reason as the row's error); bad arguments raise ValueError.
Methods may modify the model in place: always use the returned one.

Also here: ``sparsity_report`` (the zeros, and what they are worth as stored),
``coverage`` (the share of the original parameters and FLOPs removed or zeroed:
the one figure comparable across methods; and, from the ``PruneReport`` prune()
leaves on the model, the share of parameters touched, what was skipped per
layer type and why, and a flag when under half was touched), both from
prune_report.py. Each method declares the layer types it acts on
(``layer_types``, ``layer_note``; table in layer_support.py). And
``sensitivity_scan`` (accuracy when one layer at a time is pruned).
"""
from __future__ import annotations


import math

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.errors import Unsupported
from lab.transforms import prune_structured, semi_structured
from lab.transforms.prune_base import (PRUNABLE_TYPES, RANDOM_SEED, REPORT_ATTR, PruneMethod,  # noqa: F401
                                       PruneReport, changed, match_layers, normal_tensors, owners, permanent,
                                       prunable_layers, prunable_weights, snapshot)
from lab.transforms.prune_report import coverage, nonzero_by_type, sparsity_report

# Re-exported from prune_base / prune_report: callers import them from here.
__all__ = ["METHODS", "PRUNABLE_TYPES", "RANDOM_SEED", "PruneMethod", "PruneReport", "accelerate", "check_sparsity",
           "coverage", "get", "nonzero_by_type", "normal_tensors", "prunable_layers", "prunable_weights", "prune",
           "register", "sparsity_report", "supported"]


def _random_scores(targets: list[tuple[nn.Module, str]], seed: int = RANDOM_SEED) -> dict:
    """Uniform random scores from a seeded CPU generator, one per weight element.

    Random pruning is magnitude pruning of these scores: the same distribution as
    torch's RandomUnstructured, but reproducible on any device (one configuration,
    one model) without touching the caller's global RNG.
    """
    generator = torch.Generator().manual_seed(seed)
    return {(m, k): torch.rand(getattr(m, k).shape, generator=generator).to(getattr(m, k).device)
            for m, k in targets}


def _targets(model: nn.Module, ignored: frozenset[str]) -> list[tuple[nn.Module, str]]:
    return [(m, k) for _, m, k in prunable_weights(model, ignored)]


def _per_layer(random: bool):
    def apply(model: nn.Module, sparsity: float, seed: int = RANDOM_SEED, ignored=frozenset(), **_) -> nn.Module:
        targets = _targets(model, ignored)
        scores = _random_scores(targets, seed) if random else {}
        with permanent(targets):
            for m, k in targets:  # each weight gets round(sparsity * numel) zeros
                torch_prune.l1_unstructured(m, k, amount=sparsity, importance_scores=scores.get((m, k)))
        return model
    return apply


def _global(random: bool):
    def apply(model: nn.Module, sparsity: float, seed: int = RANDOM_SEED, ignored=frozenset(), **_) -> nn.Module:
        targets = _targets(model, ignored)
        if not targets:
            return model
        # One ranking over all prunable weights: round(sparsity * total) zeros, spread unevenly.
        with permanent(targets):
            torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured,
                                            importance_scores=_random_scores(targets, seed) if random else None,
                                            amount=sparsity)
        return model
    return apply


def _structured(model: nn.Module, sparsity: float, *, example_input, device: str, ignored=frozenset(),
                skipped=None, **_) -> nn.Module:
    return prune_structured.prune_channels(model, sparsity, example_input, ignored_layers=ignored, skipped=skipped)


def _two_four(model: nn.Module, sparsity: float, *, device: str, **_) -> nn.Module:
    return semi_structured.mask_2_4(model)


METHODS: dict[str, PruneMethod] = {}


def register(method: PruneMethod) -> PruneMethod:
    METHODS[method.name] = method
    return method


_WEIGHTS = "Linear/Conv1d/Conv2d, GRU/LSTM/RNN, MultiheadAttention q/k/v"
_PER_LAYER = f"fraction of each prunable weight ({_WEIGHTS}) zeroed, the same in every one"
_GLOBAL = f"fraction of all prunable weights ({_WEIGHTS}) together zeroed; layers end up unevenly sparse"
# What the unstructured family prunes, and what it leaves (PruneMethod.layer_types / skips).
_UNSTRUCTURED = dict(
    layer_types=("Linear", "Conv1d", "Conv2d", "GRU", "LSTM", "RNN", "MultiheadAttention"),
    layer_note="weights only (recurrent weight_ih/hh, attention in_proj/out_proj included); biases, norms, "
               "embeddings and parameters held by other module types are left",
    skips={"norm": "norms are not pruned: a handful of per-channel scales, zeroing one silences a channel",
           "embedding": "embeddings are not pruned: their rows are tokens, not connections",
           "other": "a parameter held directly by a module type the method does not know (e.g. a learned "
                    "position embedding, Conv3d, Bilinear): which of its elements are weights is unknown"})

register(PruneMethod("none", "no pruning", lambda model, sparsity, **_: model, "nothing (always 0)",
                     layer_note="nothing"))
register(PruneMethod("unstructured", "smallest-magnitude (L1) weights of each layer zeroed; same fraction per layer",
                     _per_layer(random=False), _PER_LAYER, **_UNSTRUCTURED))
register(PruneMethod("unstructured-global", "smallest-magnitude (L1) weights across all layers zeroed "
                     "(layers end up unevenly sparse)", _global(random=False), _GLOBAL, **_UNSTRUCTURED))
register(PruneMethod("random", "random weights of each layer zeroed (a baseline for magnitude pruning)",
                     _per_layer(random=True), _PER_LAYER, **_UNSTRUCTURED))
register(PruneMethod("random-global", "random weights across all layers zeroed",
                     _global(random=True), _GLOBAL, **_UNSTRUCTURED))
register(PruneMethod("structured", "output channels / neurons with the smallest L1 norm removed from each layer "
                     "(torch-pruning; the model really shrinks)", _structured,
                     "fraction of each layer's output channels / neurons removed (not zeroed); the layers that "
                     "consume them lose the matching inputs, so about 1-(1-s)^2 of a chain's weights go "
                     "(0.5 -> ~75 %); see coverage()",
                     layer_types=("Linear", "Conv1d", "Conv2d", "BatchNorm", "LayerNorm", "GroupNorm", "Embedding",
                                  "GRU/LSTM/RNN input width"),
                     layer_note="out channels of Linear/Conv and everything tied to them; kept whole: the output "
                                "layer, attention (found by structure: projections split into heads, or "
                                "nn.MultiheadAttention), recurrent hidden sizes, free-standing parameters "
                                "(position embeddings) and the channels they share, ignored_layers",
                     skips={"norm": "norms shrink only with the layer they follow; this one's was kept whole",
                            "embedding": "an embedding shrinks only with the width it feeds; that width was kept "
                                         "whole",
                            "other": "no channel group reached it: its channels are tied to a layer kept whole"}))
register(PruneMethod("2:4", "2 of every 4 weights along each Linear's input zeroed; sparse tensor-core kernel "
                     "on Ampere+ GPUs with fp16/bf16", _two_four,
                     "fixed at 0.5: half the weights of each eligible nn.Linear zeroed (2 of every 4); "
                     "convolutions and ineligible shapes untouched",
                     fixed_sparsity=0.5, device_types=("cuda",), check=semi_structured.device_problem,
                     layer_types=("Linear",),
                     layer_note="Linear weights whose shape the sparse kernel takes (in_features a multiple of 64, "
                                "out_features of 32); everything else is left",
                     skips={"other": "2:4 has a sparse kernel for nn.Linear only"}))


def get(name: str) -> PruneMethod:
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"prune_method={name!r} is not allowed: one of {', '.join(METHODS)}") from None


def check_sparsity(method: PruneMethod, sparsity) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: a fraction from 0 up to (not including) 1")
    if method.name == "none" and sparsity != 0.0:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: 0 when prune_method is 'none'")
    if method.fixed_sparsity is not None and sparsity != method.fixed_sparsity:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: {method.fixed_sparsity} for prune_method "
                         f"{method.name!r} (its pattern fixes it)")
    return float(sparsity)


def supported(method: str, device: str | torch.device) -> str | None:
    """Why ``method`` can't run on ``device`` (one line), or None if it can: ``get(method).reason(device)``.
    Unknown method: ValueError. The same test prune() and accelerate() make, for greying out options."""
    return get(method).reason(device)


def _check_device(method: PruneMethod, device: str | torch.device) -> None:
    reason = method.reason(device)
    if reason is not None:
        raise Unsupported(reason)


def prune(model: nn.Module, method: str, sparsity: float, *, example_input=None, device: str = "cpu",
          seed: int = RANDOM_SEED, ignored_layers=()) -> nn.Module:
    """Return ``model`` pruned by ``method`` to ``sparsity`` (a fraction, 0 <= s < 1).

    example_input: a tensor or tuple of tensors for one forward pass, on the model's
        device ('structured' traces the model with it; the others ignore it)
    device: 'cpu', 'cuda:N' or 'mps'; a method that can't run there raises Unsupported
    seed: seeds the random methods' scores (same seed, same mask); the others ignore it
    ignored_layers: module names (``model.named_modules()``) or globs ('blocks.*.attn') left whole,
        with their submodules; a name that matches nothing is a ValueError. Not for '2:4'
    The result carries a ``PruneReport`` (what was touched and skipped) for ``coverage``.
    """
    m = get(method)
    sparsity = check_sparsity(m, sparsity)
    ignored = match_layers(model, ignored_layers)
    if ignored and m.name == "2:4":
        raise ValueError("ignored_layers is not allowed with prune_method '2:4' (its kernel takes whole Linears)")
    _check_device(m, device)
    if m.name == "structured" and example_input is None:
        raise ValueError("example_input=None is not allowed: a tensor or tuple of tensors for one forward pass "
                         "(structured pruning traces the model with it)")
    if m.name == "none":
        return model
    before, holders, skipped = snapshot(model), owners(model), {}
    pruned = m.apply(model, sparsity, example_input=example_input, device=device, seed=seed, ignored=ignored,
                     skipped=skipped)
    setattr(pruned, REPORT_ATTR, _report(m, sparsity, before, holders, pruned, ignored, skipped))
    return pruned


def _report(m: PruneMethod, sparsity: float, before: dict, holders: dict, pruned: nn.Module, ignored,
            skipped: dict) -> PruneReport:
    """What this call touched (by parameter elements) and, per layer type left whole, why."""
    touched = changed(before, pruned)
    total = sum(math.prod(shape) for shape, _ in before.values())
    done = sum(math.prod(shape) for name, (shape, _) in before.items() if touched[name])
    names = {id(mod): n for n, mod in pruned.named_modules()} if ignored else {}
    by_type: dict[str, list[bool]] = {}
    for name, module in holders.items():
        if name in touched:
            by_type.setdefault(type(module).__name__, []).append(touched[name])
    for name, module in holders.items():
        kind = type(module).__name__
        if kind in skipped or any(by_type.get(kind, [False])):
            continue
        mod_name = names.get(id(module), "")
        if any(mod_name == i or mod_name.startswith(i + ".") for i in ignored):
            skipped[kind] = "in ignored_layers"
        else:
            skipped[kind] = m.skip_reason(module)
    return PruneReport(m.name, sparsity, done / total if total else 0.0, dict(sorted(skipped.items())))


def accelerate(model: nn.Module, method: str, device: str) -> nn.Module:
    """After precision/quantization: let a sparse kernel use the zeros where one exists.

    Only '2:4' on CUDA does anything (its weights become semi-structured sparse
    tensors; needs fp16/bf16 weights, else Unsupported). Every other method
    returns ``model`` unchanged: unstructured zeros run at dense speed.
    """
    m = get(method)
    if m.name != "2:4":
        return model
    _check_device(m, device)
    from lab.transforms import semi_structured

    return semi_structured.to_sparse_kernels(model)
