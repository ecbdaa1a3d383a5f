"""Structured (channel / neuron) pruning with torch-pruning's dependency graph.

``prune_channels(model, ratio, example_input)`` removes ``ratio`` of the output
channels of every prunable layer (smallest L1 norm first) and everything that
depends on them — the following BatchNorm, the next layer's input channels,
the other branch of a residual add — so the model physically shrinks.

What is left alone, and why (each is named in the ``skipped`` report, by layer type):
- the layer(s) that produce the model's output, so its output shape stays;
- attention, found by its structure (find_attention.py: projections whose output is split into
  heads, the projection that reads them merged back, nn.MultiheadAttention), whatever the class
  is called: kept whole, and through the dependency graph the residual width it shares. In a
  transformer that leaves the MLP hidden width to prune;
- recurrent layers' hidden size (prune_recurrent.py); their input width is pruned with the layer
  feeding them;
- free-standing parameters (a learned position embedding: torch-pruning's "unwrapped
  parameters") and every channel they share: declared to torch-pruning, never pruned;
- the caller's ``ignored_layers``.

Anything torch-pruning can't trace or prune raises Unsupported with one line naming the layer
it failed on (and how to leave it out); the caller's model is untouched then (we prune a copy).
"""
from __future__ import annotations

import contextlib
import copy
import math
import warnings

import torch
from torch import nn
from torch.utils import _pytree

from lab.errors import Unsupported
from lab.transforms import prune_recurrent
from lab.transforms.find_attention import find_attention
from lab.transforms.prune_base import match_layers, normal_tensors

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


class _Failed(Exception):
    """torch-pruning failed at a layer: its name, class and the original exception."""

    def __init__(self, name: str, kind: str, exc: BaseException, hint: str = ""):
        super().__init__(name)
        self.name, self.kind, self.exc, self.hint = name, kind, exc, hint or name


@contextlib.contextmanager
def _blame(model: nn.Module):
    """Re-raise any failure inside the block as _Failed naming the innermost layer involved: the
    module running when it happened (forward hooks keep the stack), else the innermost module (or
    torch-pruning graph node's module) found in the failing frames' local variables. In a forward
    pass the layer to leave out is usually the last one with weights to finish before it (the hint)."""
    names = {id(m): n for n, m in model.named_modules() if n}
    stack: list[nn.Module] = []
    done: list[nn.Module] = []

    def enter(module, _inputs) -> None:
        stack.append(module)

    def leave(module, _inputs, _output) -> None:  # returns None: the output stays as it is
        stack.pop()
        if any(p is not None for p in module._parameters.values()):
            done.append(module)

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        yield
    except (Unsupported, _Failed):
        raise
    except Exception as exc:  # noqa: BLE001 — any failure inside torch-pruning is "can't prune this model"
        culprit = next((m for m in reversed(stack) if id(m) in names), None)
        tb, frames = exc.__traceback__, []
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            if culprit is not None:
                break
            for value in frame.f_locals.values():
                value = getattr(value, "module", value)  # a torch-pruning Node or Dependency target
                if isinstance(value, nn.Module) and id(value) in names:
                    culprit = value
                    break
        hint = done[-1] if stack and done and done[-1] is not culprit else culprit
        raise _Failed(names.get(id(culprit), ""), type(culprit).__name__, exc, names.get(id(hint), "")) from exc
    finally:
        for h in hooks:
            h.remove()


def _unwrapped(model: nn.Module, pruners: dict) -> tuple[list, dict]:
    """Parameters torch-pruning has no layer pruner for ([(parameter, dim)] to declare), and their
    names by id. Declared with torch-pruning's own default dim (the last one above 1); every group
    that touches one is skipped, so they are never pruned. Size-1 parameters can't be declared:
    torch-pruning leaves them out of the graph (and would warn about them)."""
    import torch_pruning as tp

    known = tp.DependencyGraph().REGISTERED_PRUNERS
    wrapped = {id(p) for m in model.modules()
               if type(m) in pruners or (tp.ops.module2type(m) in known and
                                         tp.ops.module2type(m) != tp.ops.OPTYPE.ELEMENTWISE)
               for p in m.parameters()}
    found = [(name, p) for name, p in model.named_parameters() if id(p) not in wrapped]
    declared = [(p, max(i for i, n in enumerate(p.shape) if n > 1)) for _, p in found if any(n > 1 for n in p.shape)]
    return declared, {id(p): name for name, p in found}


def _report(skipped: dict, model: nn.Module, outputs, attention, recurrent, user, unwrapped_hit) -> None:
    """What was kept whole, by layer type, into ``skipped``."""
    names = {id(m): n for n, m in model.named_modules()}
    found: dict[tuple[str, str], list[str]] = {}

    def add(module, why):
        found.setdefault((type(module).__name__, why), []).append(names.get(id(module)) or "(model)")

    for m in outputs:
        add(m, "the output layer, kept for the output shape")
    for m in attention.modules:
        add(m, "attention (found by structure), kept whole: channels removed without head bookkeeping "
               "break or mix heads")
    for m in recurrent:
        add(m, "hidden size kept (torch-pruning can't prune recurrent gates); input width pruned with its feeder")
    for m in user:
        add(m, "in ignored_layers")
    if unwrapped_hit:
        add(model, f"free-standing parameter(s) {', '.join(sorted(unwrapped_hit))} and the channels they share "
                   "kept whole")
    for (kind, why), where in found.items():
        skipped[kind] = "; ".join(filter(None, [skipped.get(kind), f"{', '.join(where)}: {why}"]))


def prune_channels(model: nn.Module, ratio: float, example_input, *, ignored_layers=(),
                   skipped: dict | None = None) -> nn.Module:
    """A copy of ``model`` with ``ratio`` (0-1) of each layer's output channels removed.

    ignored_layers: module names or globs (``prune_base.match_layers``) kept whole, submodules too
    skipped: a dict to fill with {layer type: what was kept whole and why}
    """
    if ratio == 0.0:
        return model
    try:
        import torch_pruning as tp
    except ImportError:
        raise Unsupported("structured pruning needs torch-pruning (pip install torch-pruning)") from None
    user = match_layers(model, ignored_layers)
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
        outputs, attention = _output_layers(model, args), find_attention(model, args)
        recurrent = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
        kept = [m for n, m in model.named_modules() if n in user]
        pruners = prune_recurrent.recurrent_pruners(model)
        declared, unwrapped = _unwrapped(model, pruners)
        unwrapped_hit: set[str] = set()
        try:
            with _blame(model), prune_recurrent.opaque(model), warnings.catch_warnings():
                # Only size-1 parameters are left undeclared (see _unwrapped): torch-pruning never prunes them.
                warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
                pruner = tp.pruner.BasePruner(
                    model, args, importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=ratio,
                    global_pruning=False, forward_fn=lambda m, a: m(*a),
                    ignored_layers=outputs + attention.modules + attention.projections + recurrent + kept,
                    customized_pruners=pruners, unwrapped_parameters=declared,
                    # Fresh dicts: torch-pruning 1.6 fills its mutable defaults, which would leak between calls.
                    in_channel_groups={}, out_channel_groups={}, num_heads={}, channel_groups={})
            _check_widths(pruner, ratio)
            with _blame(model):
                for group in pruner.step(interactive=True):
                    hit = {unwrapped[id(dep.target.module)] for dep, _ in group
                           if id(dep.target.module) in unwrapped}
                    unwrapped_hit |= hit
                    if not hit:
                        _prune_group(group, model)
            with _blame(model):
                after = _output_shapes(model, args)
        except _Failed as failed:
            line = (str(failed.exc).strip().splitlines() or [""])[0]
            where = f"at layer {failed.name!r} ({failed.kind})" if failed.name else "on this model"
            fix = f"; to keep it whole, pass ignored_layers=[{failed.hint!r}]" if failed.hint else ""
            raise Unsupported(f"structured pruning (torch-pruning) failed {where}: "
                              f"{type(failed.exc).__name__}: {line}{fix}") from failed.exc
        if after != shapes:
            raise Unsupported(f"structured pruning changed the model's output shape {shapes} -> {after}; "
                              "its output layer could not be kept whole")
        for name, p in model.named_parameters():  # the pruned layers hold new Parameters: restore the flags
            p.requires_grad_(requires_grad.get(name, p.requires_grad))
        model.train(was_training)
    if skipped is not None:
        _report(skipped, model, outputs, attention, recurrent, kept, unwrapped_hit)
    return model


def _prune_group(group, model: nn.Module) -> None:
    """group.prune(), a failure naming the group's root layer."""
    try:
        group.prune()
    except Exception as exc:  # noqa: BLE001 — named by the caller as "failed at layer ..."
        root = group[0].dep.target.module
        name = next((n for n, m in model.named_modules() if m is root), "")
        raise _Failed(name, type(root).__name__, exc) from exc
