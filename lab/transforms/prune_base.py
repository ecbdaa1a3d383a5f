"""What every pruning method shares: the registry entry (``PruneMethod``) and the layer helpers.

The bottom of lab.transforms' pruning modules: prune.py (the registry and the
verb), prune_structured.py, semi_structured.py, prune_report.py and finetune.py
import from here, and this module imports none of them, so there is no cycle.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import re
from typing import Callable

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.transforms.devices import device_reason

# The layers whose ``weight`` the per-layer helpers (sensitivity scan, 2:4) act on.
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Weights unstructured pruning also zeroes: recurrent layers' input and hidden matrices (every layer,
# both directions, LSTM projections) and nn.MultiheadAttention's packed or separate q/k/v projections
# (its out_proj is an nn.Linear). Biases, norms and embeddings are left alone.
RECURRENT_WEIGHT = re.compile(r"^weight_(ih|hh|hr)_l\d+(_reverse)?$")
ATTENTION_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
RANDOM_SEED = 0  # random pruning is seeded, so one configuration always gives the same model


@dataclasses.dataclass(frozen=True)
class PruneMethod:
    """One pruning method and every fact about it.

    name: the ``prune_method`` column's value
    description: what it does, one line
    apply: apply(model, sparsity, *, example_input, device, seed) -> pruned model
    sparsity_means: what the ``sparsity`` knob counts for this method, in words (it is not the same
        quantity for every method: see prune.py's module docstring)
    fixed_sparsity: the only sparsity the method's pattern allows (Config enforces it), or None
    device_types: torch device types it runs on ('cpu', 'cuda', 'mps')
    check: device -> why this particular device can't run it (e.g. too old a GPU), or None if it can;
        use ``reason(device)``, which also checks ``device_types``
    layer_types: the layer types (class names) whose weights it prunes; () for 'none'
    layer_note: what it leaves, and why, in one line (README and ``python -m lab models --schemes``)
    skips: {layer kind: why this method leaves it}; kinds are ``layer_kind()``'s: 'norm',
        'embedding' or a class name; a kind not listed is 'other'
    """

    name: str
    description: str
    apply: Callable[..., nn.Module]
    sparsity_means: str = ""
    fixed_sparsity: float | None = None
    device_types: tuple[str, ...] = ("cpu", "cuda", "mps")
    check: Callable[[torch.device], str | None] | None = None
    layer_types: tuple[str, ...] = ()
    layer_note: str = ""
    skips: dict = dataclasses.field(default_factory=dict)

    def skip_reason(self, module: nn.Module) -> str:
        """Why this method left ``module``'s parameters alone, in words."""
        kind = layer_kind(module)
        return self.skips.get(kind) or self.skips.get("other") or f"{self.name} does not prune {kind} layers"

    def reason(self, device: str | torch.device) -> str | None:
        """Why ``device`` can't run this method (one line), or None if it can."""
        return device_reason("prune_method", self.name, self.device_types, self.check, device)


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every layer whose weight pruning acts on, in registration order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, PRUNABLE_TYPES) and isinstance(getattr(m, "weight", None), torch.Tensor)]


def layer_kind(module: nn.Module) -> str:
    """'norm', 'embedding', or the module's class name: the kinds ``PruneMethod.skips`` is keyed by."""
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                           getattr(nn, "RMSNorm", nn.LayerNorm))):
        return "norm"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    return type(module).__name__


def prunable_weights(model: nn.Module, ignored: frozenset[str] = frozenset()) -> list[tuple[str, nn.Module, str]]:
    """(module's qualified name, module, parameter name) of every weight unstructured pruning zeroes:
    Linear / Conv1d / Conv2d ``weight``, recurrent (nn.RNN/GRU/LSTM) ``weight_ih_l*`` / ``weight_hh_l*``
    / ``weight_hr_l*``, nn.MultiheadAttention's q/k/v projections. Modules named in ``ignored`` (and
    their submodules) are left out."""
    found = []
    for name, m in model.named_modules():
        if any(name == i or name.startswith(i + ".") for i in ignored):
            continue
        if isinstance(m, PRUNABLE_TYPES):
            keys = ["weight"]
        elif isinstance(m, nn.RNNBase):
            keys = [k for k in m._parameters if RECURRENT_WEIGHT.match(k)]
        elif isinstance(m, nn.MultiheadAttention):
            keys = [k for k in ATTENTION_WEIGHTS if m._parameters.get(k) is not None]
        else:
            continue
        found += [(name, m, k) for k in keys if isinstance(m._parameters.get(k), torch.Tensor)]
    return found


def match_layers(model: nn.Module, patterns) -> frozenset[str]:
    """The qualified module names (``model.named_modules()``) that ``patterns`` name: exact names or
    shell-style globs ('blocks.*.mixer'). A pattern that names no module: ValueError listing some."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    names = [n for n, _ in model.named_modules() if n]
    found: set[str] = set()
    for pattern in patterns or ():
        hits = [n for n in names if n == pattern or fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"ignored_layers={pattern!r} is not allowed: it names no module of this model "
                             f"(module names: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})")
        found.update(hits)
    return frozenset(found)


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


@contextlib.contextmanager
def permanent(targets: list):
    """Masks that torch.nn.utils.prune puts on these weights inside the block are made permanent
    on leaving it (prune.remove): plain Parameters with zeros, no hooks. ``targets``: modules (their
    ``weight``) or (module, parameter name) pairs."""
    pairs = [t if isinstance(t, tuple) else (t, "weight") for t in targets]
    modules = {id(m): m for m, _ in pairs}
    orders = {key: list(m._parameters) for key, m in modules.items()}
    yield
    for module, key in pairs:
        torch_prune.remove(module, key)
    for key, module in modules.items():
        # remove() registers each weight last; put the names back in their order, so the state_dict
        # keeps its key order (checkpoints diff cleanly). An RNN reads its flat weights by name.
        params = dict(module._parameters)
        module._parameters.clear()
        module._parameters.update((name, params[name]) for name in orders[key])
    for module in modules.values():
        if isinstance(module, nn.RNNBase):
            module.flatten_parameters()  # cuDNN wants one contiguous weight buffer again (no-op on CPU)


REPORT_ATTR = "lab_prune_report"  # prune() leaves its PruneReport on the model under this attribute


@dataclasses.dataclass(frozen=True)
class PruneReport:
    """What one prune() call touched, left on the pruned model (``REPORT_ATTR``) for ``coverage``.

    method, sparsity: what was asked
    touched_frac: share of the model's parameter elements (by count, 0-1) held by tensors pruning
        changed: zeroed in, or shrunk / removed (structured). A bias the method never prunes is
        untouched; a Conv whose weight lost channels is touched in full
    skipped: {layer type (class name): why the method left it, or the part it left}
    """

    method: str
    sparsity: float
    touched_frac: float
    skipped: dict


def snapshot(model: nn.Module) -> dict[str, tuple[tuple[int, ...], int]]:
    """{parameter name: (shape, nonzero elements)}: taken before pruning, compared by ``changed``."""
    with torch.no_grad():
        return {name: (tuple(p.shape), int(torch.count_nonzero(p))) for name, p in model.named_parameters()}


def changed(before: dict, after: nn.Module) -> dict[str, bool]:
    """{parameter name as before: whether pruning changed it (gone, reshaped, or fewer nonzeros)}."""
    now = snapshot(after)
    return {name: name not in now or now[name][0] != shape or now[name][1] < nonzero
            for name, (shape, nonzero) in before.items()}


def owners(model: nn.Module) -> dict[str, nn.Module]:
    """{parameter name: the module that holds it directly}."""
    return {f"{mname}.{key}" if mname else key: m
            for mname, m in model.named_modules() for key, p in m._parameters.items() if p is not None}
