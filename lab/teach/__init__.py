"""How the techniques work, shown: teaching figures for quantization and pruning on a real layer.

Pure functions (tensors in, tensors or numbers out) and matplotlib drawing onto Axes the caller
makes; no widgets here, so a notebook's sliders can call them on every change::

    from lab.teach import quantization, pruning
    w = lab.models.registry.get("digits-mlp").build().net[0].weight.detach()
    quantization.draw_grid(ax, w, bits=4, symmetric=True, per_channel=False)
    quantization.draw_channel_error(ax, w, bits=4)
    pruning.draw_masks(axes, w, sparsity=0.5)            # three Axes: unstructured, 2:4, channels
    pruning.draw_histograms(ax, w, pruning.masks(w, 0.5)["unstructured"])

Bad input (``bits=1``, ``sparsity=1.5``) raises lab.errors.FieldError, a ValueError whose one-line
message names the field and what is allowed.
"""
from __future__ import annotations

from lab.teach import pruning, quantization

__all__ = ["pruning", "quantization"]
