"""Recurrent layers (nn.RNN / GRU / LSTM) inside torch-pruning's dependency graph.

torch-pruning 1.6 has no pruner for GRU or RNN (their weights become "unwrapped parameters"
whose last dimension it prunes: the IndexError of issue 12) and its LSTM pruner handles one
layer only. What is written by hand here, and why:

- ``recurrent_pruners()``: a customized pruner per recurrent class that removes *input*
  channels (columns of ``weight_ih_l0`` and ``weight_ih_l0_reverse``), so the layer feeding a
  GRU / LSTM can still lose channels. Its hidden size is never pruned (the caller puts it in
  ``ignored_layers``): that would need the gate blocks of every ``weight_*`` sliced together.
- ``opaque(model)``: while torch-pruning traces, each recurrent layer runs as one autograd node
  whose inputs are its input sequence and its weights. Run normally, a GRU on the CPU is a chain
  of per-step ops, and torch-pruning would follow that chain and tie the layer *after* the GRU
  (its hidden width) to the layer *before* it (the input width). The initial state ``hx`` is
  not an input of that node: a layer producing it is not tied to the recurrent layer.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils import _pytree


def recurrent_pruners(model: nn.Module) -> dict:
    """{recurrent class in ``model``: its input-channel pruner}, for BasePruner's customized_pruners."""
    import torch_pruning as tp

    class RecurrentInputPruner(tp.pruner.function.BasePruningFunc):
        def prune_out_channels(self, layer: nn.RNNBase, idxs):
            raise RuntimeError(f"the hidden size of {type(layer).__name__} is not pruned (it is kept whole)")

        def prune_in_channels(self, layer: nn.RNNBase, idxs):
            keep = torch.tensor(sorted(set(range(layer.input_size)) - set(int(i) for i in idxs)))
            for key in ("weight_ih_l0", "weight_ih_l0_reverse"):
                weight = layer._parameters.get(key)
                if weight is not None:
                    setattr(layer, key, nn.Parameter(weight.data[:, keep.to(weight.device)].clone(),
                                                     requires_grad=weight.requires_grad))
            layer.input_size = len(keep)
            layer.flatten_parameters()
            return layer

        def get_out_channels(self, layer: nn.RNNBase):
            return (getattr(layer, "proj_size", 0) or layer.hidden_size) * (2 if layer.bidirectional else 1)

        def get_in_channels(self, layer: nn.RNNBase):
            return layer.input_size

    pruner = RecurrentInputPruner()
    return {type(m): pruner for m in model.modules() if isinstance(m, nn.RNNBase)}


class _OneNode(torch.autograd.Function):
    """Runs a recurrent layer as one autograd node (tracing only: never differentiated)."""

    @staticmethod
    def forward(ctx, run, x, *weights):
        return tuple(run(x))

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover — tracing reads the graph, it never runs backward
        raise RuntimeError("opaque recurrent layers are for tracing only")


def _forward(module: nn.RNNBase, original):
    def forward(input, hx=None):
        if not torch.is_tensor(input) or not torch.is_grad_enabled():  # a PackedSequence: traced as is
            return original(input, hx)
        spec = []

        def run(x):  # the result flattened to tensors (output, h_n[, c_n]); its structure kept in spec
            leaves, structure = _pytree.tree_flatten(original(x, hx))
            spec.append(structure)
            return leaves

        flat = _OneNode.apply(run, input, *module.parameters())
        return _pytree.tree_unflatten(list(flat), spec[0])
    return forward


@contextlib.contextmanager
def opaque(model: nn.Module):
    """Inside the block, every recurrent layer of ``model`` runs as one autograd node."""
    layers = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    for m in layers:
        m.forward = _forward(m, m.forward)
    try:
        yield
    finally:
        for m in layers:
            del m.forward
