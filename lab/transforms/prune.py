"""Pruning: ``prune(model, method, sparsity, example_input=..., device=...) -> model``.

One verb, a registry of methods (METHODS), like quantize.py; each entry carries
its facts (``PruneMethod`` in prune_base.py): the devices it runs on
(``reason(device)``, or ``supported(method, device)``) and what its sparsity
knob means (``sparsity_means``). ``sparsity`` is a fraction from 0 up to (not
including) 1, but not the same quantity for every method:

- unstructured methods zero that fraction of the prunable weights (Linear /
  Conv1d / Conv2d weights; never biases, norms or embeddings). The mask is made
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
the one figure comparable across methods), both from prune_report.py, and
``sensitivity_scan`` (accuracy when one layer at a time is pruned).
"""
from __future__ import annotations


import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.errors import Unsupported
from lab.transforms import prune_structured, semi_structured
from lab.transforms.prune_base import (PRUNABLE_TYPES, RANDOM_SEED, PruneMethod, normal_tensors,  # noqa: F401
                                       permanent, prunable_layers)
from lab.transforms.prune_report import coverage, nonzero_by_type, sparsity_report  # noqa: F401


def _random_scores(layers: list[nn.Module], seed: int = RANDOM_SEED) -> dict:
    """Uniform random scores from a seeded CPU generator, one per weight element.

    Random pruning is magnitude pruning of these scores: the same distribution as
    torch's RandomUnstructured, but reproducible on any device (one configuration,
    one model) without touching the caller's global RNG.
    """
    generator = torch.Generator().manual_seed(seed)
    return {(m, "weight"): torch.rand(m.weight.shape, generator=generator).to(m.weight.device) for m in layers}


def _per_layer(random: bool):
    def apply(model: nn.Module, sparsity: float, seed: int = RANDOM_SEED, **_) -> nn.Module:
        layers = [m for _, m in prunable_layers(model)]
        scores = _random_scores(layers, seed) if random else {}
        with permanent(layers):
            for m in layers:  # each weight gets round(sparsity * numel) zeros
                torch_prune.l1_unstructured(m, "weight", amount=sparsity, importance_scores=scores.get((m, "weight")))
        return model
    return apply


def _global(random: bool):
    def apply(model: nn.Module, sparsity: float, seed: int = RANDOM_SEED, **_) -> nn.Module:
        layers = [m for _, m in prunable_layers(model)]
        if not layers:
            return model
        # One ranking over all prunable weights: round(sparsity * total) zeros, spread unevenly.
        with permanent(layers):
            torch_prune.global_unstructured([(m, "weight") for m in layers], pruning_method=torch_prune.L1Unstructured,
                                            importance_scores=_random_scores(layers, seed) if random else None,
                                            amount=sparsity)
        return model
    return apply


def _structured(model: nn.Module, sparsity: float, *, example_input, device: str, **_) -> nn.Module:
    return prune_structured.prune_channels(model, sparsity, example_input)


def _two_four(model: nn.Module, sparsity: float, *, device: str, **_) -> nn.Module:
    return semi_structured.mask_2_4(model)


METHODS: dict[str, PruneMethod] = {}


def register(method: PruneMethod) -> PruneMethod:
    METHODS[method.name] = method
    return method


_PER_LAYER = "fraction of each prunable layer's weights (Linear/Conv1d/Conv2d) zeroed, the same in every layer"
_GLOBAL = "fraction of all prunable weights (Linear/Conv1d/Conv2d) together zeroed; layers end up unevenly sparse"

register(PruneMethod("none", "no pruning", lambda model, sparsity, **_: model, "nothing (always 0)"))
register(PruneMethod("unstructured", "smallest-magnitude (L1) weights of each layer zeroed; same fraction per layer",
                     _per_layer(random=False), _PER_LAYER))
register(PruneMethod("unstructured-global", "smallest-magnitude (L1) weights across all layers zeroed "
                     "(layers end up unevenly sparse)", _global(random=False), _GLOBAL))
register(PruneMethod("random", "random weights of each layer zeroed (a baseline for magnitude pruning)",
                     _per_layer(random=True), _PER_LAYER))
register(PruneMethod("random-global", "random weights across all layers zeroed",
                     _global(random=True), _GLOBAL))
register(PruneMethod("structured", "output channels / neurons with the smallest L1 norm removed from each layer "
                     "(torch-pruning; the model really shrinks)", _structured,
                     "fraction of each layer's output channels / neurons removed (not zeroed); the layers that "
                     "consume them lose the matching inputs, so about 1-(1-s)^2 of a chain's weights go "
                     "(0.5 -> ~75 %); see coverage()"))
register(PruneMethod("2:4", "2 of every 4 weights along each Linear's input zeroed; sparse tensor-core kernel "
                     "on Ampere+ GPUs with fp16/bf16", _two_four,
                     "fixed at 0.5: half the weights of each eligible nn.Linear zeroed (2 of every 4); "
                     "convolutions and ineligible shapes untouched",
                     fixed_sparsity=0.5, device_types=("cuda",), check=semi_structured.device_problem))


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
          seed: int = RANDOM_SEED) -> nn.Module:
    """Return ``model`` pruned by ``method`` to ``sparsity`` (a fraction, 0 <= s < 1).

    example_input: a tensor or tuple of tensors for one forward pass, on the model's
        device ('structured' traces the model with it; the others ignore it)
    device: 'cpu', 'cuda:N' or 'mps'; a method that can't run there raises Unsupported
    seed: seeds the random methods' scores (same seed, same mask); the others ignore it
    """
    m = get(method)
    sparsity = check_sparsity(m, sparsity)
    _check_device(m, device)
    if m.name == "structured" and example_input is None:
        raise ValueError("example_input=None is not allowed: a tensor or tuple of tensors for one forward pass "
                         "(structured pruning traces the model with it)")
    return m.apply(model, sparsity, example_input=example_input, device=device, seed=seed)


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
