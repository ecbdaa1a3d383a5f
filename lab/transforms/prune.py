"""Pruning: ``prune(model, method, sparsity, example_input=..., device=...) -> model``.

One verb, a registry of methods (METHODS), like quantize.py. ``sparsity`` is a
fraction from 0 up to (not including) 1:

- unstructured methods zero that fraction of the prunable weights (Linear /
  Conv1d / Conv2d weights; never biases, norms or embeddings). The mask is made
  permanent, so the result is a plain module with zeros in it: same shapes, same
  state_dict keys, same dense speed — only a sparse format or a sparse kernel
  turns the zeros into savings (see ``sparsity_report``'s ``sparse_size_mib``);
- 'structured' removes that fraction of the output channels / neurons of each
  layer (torch-pruning), so params, FLOPs and latency really drop;
- '2:4' zeros 2 of every 4 weights along each Linear's input dim; after
  precision, ``accelerate`` hands those weights to the GPU's sparse kernel.

A method that cannot run on the device or the model raises Unsupported (the
runner stores the reason as the row's error); bad arguments raise ValueError.
Methods may modify the model in place: always use the returned one.

Also here: ``sparsity_report`` (what the zeros are worth as stored) and
``sensitivity_scan`` (accuracy when one layer at a time is pruned).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import warnings
from typing import Callable, Iterable

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.transforms import Unsupported

# The layers whose weights pruning acts on (biases, norms and embeddings are left alone).
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
MIB = 1024 * 1024
RANDOM_SEED = 0  # random pruning is seeded, so one configuration always gives the same model


@dataclasses.dataclass(frozen=True)
class PruneMethod:
    """name: the ``prune_method`` column's value
    apply: apply(model, sparsity, *, example_input, device) -> pruned model
    fixed_sparsity: the only sparsity the method's pattern allows (Config enforces it), or None
    device_types: torch device types it runs on ('cpu', 'cuda', 'mps')
    check: device -> why this particular device can't run it (e.g. too old a GPU), or None if it can
    """

    name: str
    description: str
    apply: Callable[..., nn.Module]
    fixed_sparsity: float | None = None
    device_types: tuple[str, ...] = ("cpu", "cuda", "mps")
    check: Callable[[torch.device], str | None] | None = None


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every layer whose weight pruning acts on, in registration order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, PRUNABLE_TYPES) and isinstance(getattr(m, "weight", None), torch.Tensor)]


def normal_tensors(model: nn.Module) -> nn.Module:
    """Replace parameters and buffers made under torch.inference_mode() by normal clones, in place.

    Inference tensors can't be recorded by autograd, so neither torch-pruning's
    tracer nor training can use them (torch-pruning even fails silently: it
    finds no graph and prunes nothing). Tied parameters stay tied.
    """
    clones: dict[int, torch.Tensor] = {}
    with torch.inference_mode(False):
        for module in model.modules():
            for name, p in list(module._parameters.items()):
                if p is not None and p.is_inference():
                    if id(p) not in clones:
                        clones[id(p)] = nn.Parameter(p.clone(), requires_grad=p.requires_grad)
                    setattr(module, name, clones[id(p)])
            for name, b in list(module._buffers.items()):
                if b is not None and b.is_inference():
                    clones.setdefault(id(b), b.clone())
                    setattr(module, name, clones[id(b)])
    return model


# --- unstructured: torch.nn.utils.prune computes the masks; we make them permanent --------------

@contextlib.contextmanager
def permanent(layers: list[nn.Module]):
    """Masks that torch.nn.utils.prune puts on these layers' weights inside the block are
    made permanent on leaving it (prune.remove): plain Parameters with zeros, no hooks."""
    orders = [list(m._parameters) for m in layers]
    yield
    for module, order in zip(layers, orders):
        torch_prune.remove(module, "weight")
        # remove() registers 'weight' last; move the names after it back behind it, so the
        # state_dict keeps its key order (checkpoints diff cleanly).
        for name in order[order.index("weight") + 1:]:
            module._parameters[name] = module._parameters.pop(name)


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
    from lab.transforms import prune_structured  # imports torch-pruning, only when asked for

    return prune_structured.prune_channels(model, sparsity, example_input)


def _two_four(model: nn.Module, sparsity: float, *, device: str, **_) -> nn.Module:
    from lab.transforms import semi_structured

    return semi_structured.mask_2_4(model)


def _check_2_4(device: torch.device) -> str | None:
    from lab.transforms import semi_structured

    return semi_structured.device_problem(device)


METHODS: dict[str, PruneMethod] = {}


def register(method: PruneMethod) -> PruneMethod:
    METHODS[method.name] = method
    return method


register(PruneMethod("none", "no pruning", lambda model, sparsity, **_: model))
register(PruneMethod("unstructured", "smallest-magnitude (L1) weights of each layer zeroed; same fraction per layer",
                     _per_layer(random=False)))
register(PruneMethod("unstructured-global", "smallest-magnitude (L1) weights across all layers zeroed "
                     "(layers end up unevenly sparse)", _global(random=False)))
register(PruneMethod("random", "random weights of each layer zeroed (a baseline for magnitude pruning)",
                     _per_layer(random=True)))
register(PruneMethod("random-global", "random weights across all layers zeroed",
                     _global(random=True)))
register(PruneMethod("structured", "output channels / neurons with the smallest L1 norm removed from each layer "
                     "(torch-pruning; the model really shrinks)", _structured))
register(PruneMethod("2:4", "2 of every 4 weights along each Linear's input zeroed; sparse tensor-core kernel "
                     "on Ampere+ GPUs with fp16/bf16", _two_four, fixed_sparsity=0.5, device_types=("cuda",),
                     check=_check_2_4))


def get(name: str) -> PruneMethod:
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"prune_method={name!r} is not allowed: one of {', '.join(METHODS)}") from None


def _check_sparsity(method: PruneMethod, sparsity) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: a fraction from 0 up to (not including) 1")
    if method.name == "none" and sparsity != 0.0:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: 0 when prune_method is 'none'")
    if method.fixed_sparsity is not None and sparsity != method.fixed_sparsity:
        raise ValueError(f"sparsity={sparsity!r} is not allowed: {method.fixed_sparsity} for prune_method "
                         f"{method.name!r} (its pattern fixes it)")
    return float(sparsity)


def _check_device(method: PruneMethod, device: str) -> None:
    dev = torch.device(device)
    reason = method.check(dev) if method.check is not None else None
    if reason is None and dev.type not in method.device_types:
        reason = f"prune_method={method.name} does not run on {dev.type} (it runs on {', '.join(method.device_types)})"
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
    sparsity = _check_sparsity(m, sparsity)
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


# --- what the zeros are worth ---------------------------------------------------------------------

def _count_nonzero(t: torch.Tensor) -> int:
    if type(t) in (torch.Tensor, nn.Parameter):
        return int(torch.count_nonzero(t))
    try:  # a tensor subclass, e.g. a semi-structured sparse weight after accelerate(): count its dense form
        return int(torch.count_nonzero(t.to_dense()))
    except Exception:  # noqa: BLE001 — an opaque packed format: count every element as nonzero
        return t.numel()


def sparsity_report(model: nn.Module) -> dict:
    """What pruning left, and what its zeros would save if stored sparse.

    params: parameter elements (count); nonzero_params: those that are not zero
    sparsity_reached: zeros / elements over the prunable weights (0.0 for a dense model)
    sparse_size_mib: MiB of the state_dict as torch.save writes it with every
        prunable weight in CSR (conv weights flattened to 2-D) and the rest dense.
        CSR stores an int64 column index per nonzero, so below roughly two-thirds
        sparsity (fp32) it is *larger* than dense — the honest answer.
    """
    with torch.no_grad():
        params = list(model.parameters())
        weights = [m.weight for _, m in prunable_layers(model)]
        elements = sum(w.numel() for w in weights)
        zeros = sum(w.numel() - _count_nonzero(w) for w in weights)
        names = {f"{name}.weight" if name else "weight" for name, _ in prunable_layers(model)}
        state = {}
        for key, value in model.state_dict().items():
            if key in names and type(value) is torch.Tensor and value.dim() >= 2:
                with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and only stored here
                    warnings.simplefilter("ignore", UserWarning)
                    csr = value.reshape(value.shape[0], -1).to_sparse_csr()
                    # to_sparse_csr's col_indices is a view of a larger index buffer and
                    # torch.save writes the whole buffer: copy the parts to store only them.
                    value = torch.sparse_csr_tensor(csr.crow_indices().clone(), csr.col_indices().clone(),
                                                    csr.values().clone(), csr.shape, check_invariants=False)
            state[key] = value
        buffer = io.BytesIO()
        torch.save(state, buffer)
    return {"params": sum(p.numel() for p in params),
            "nonzero_params": sum(_count_nonzero(p) for p in params),
            "sparsity_reached": zeros / elements if elements else 0.0,
            "sparse_size_mib": buffer.tell() / MIB}


def sensitivity_scan(model: nn.Module, evaluate: Callable[[nn.Module], float],
                     sparsities: Iterable[float] = tuple(i / 10 for i in range(10)), method: str = "unstructured",
                     on_step: Callable[[int, int], None] | None = None):
    """Prune one layer at a time and evaluate, as in the MIT efficient-ML pruning lab.

    For each prunable layer (by module name) and each sparsity, only that layer is
    pruned — on a deep copy, so ``model`` is untouched — and ``evaluate(model)``
    scores it. method: 'unstructured' (L1) or 'random'. Returns a pandas
    DataFrame with columns layer, sparsity, accuracy, params (that layer's weight
    elements), one row per layer x sparsity. on_step(done, total) after each row.
    """
    import pandas as pd

    if method not in ("unstructured", "random"):
        raise ValueError(f"method={method!r} is not allowed: unstructured or random")
    sparsities = [_check_sparsity(METHODS[method], s) for s in sparsities]
    work = copy.deepcopy(model)  # one copy; each layer is pruned, scored and restored in turn
    layers = prunable_layers(work)
    total, rows, dense = len(layers) * len(sparsities), [], None
    for name, layer in layers:
        original = layer.weight.detach().clone()
        for sparsity in sparsities:
            if sparsity == 0.0:  # nothing pruned: the unpruned model's score, measured once
                dense = evaluate(work) if dense is None else dense
                accuracy = dense
            else:
                METHODS[method].apply(_OneLayer(layer), sparsity)
                accuracy = evaluate(work)
                with torch.no_grad():
                    layer.weight.copy_(original)
            rows.append({"layer": name, "sparsity": sparsity, "accuracy": accuracy, "params": original.numel()})
            if on_step is not None:
                on_step(len(rows), total)
    return pd.DataFrame(rows, columns=["layer", "sparsity", "accuracy", "params"])


class _OneLayer(nn.Module):
    """A container holding one layer, so the per-layer methods prune just it (in place, shared)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
