"""What every pruning method shares: the registry entry (``PruneMethod``) and the layer helpers.

The bottom of lab.transforms' pruning modules: prune.py (the registry and the
verb), prune_structured.py, semi_structured.py, prune_report.py and finetune.py
import from here, and this module imports none of them, so there is no cycle.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.transforms.devices import device_reason

# The layers whose weights pruning acts on (biases, norms and embeddings are left alone).
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
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
    """

    name: str
    description: str
    apply: Callable[..., nn.Module]
    sparsity_means: str = ""
    fixed_sparsity: float | None = None
    device_types: tuple[str, ...] = ("cpu", "cuda", "mps")
    check: Callable[[torch.device], str | None] | None = None

    def reason(self, device: str | torch.device) -> str | None:
        """Why ``device`` can't run this method (one line), or None if it can."""
        return device_reason("prune_method", self.name, self.device_types, self.check, device)


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
