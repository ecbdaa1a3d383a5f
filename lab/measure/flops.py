"""FLOPs of one sample's forward pass, attention included.

A multiply-add counts 2 FLOPs (torch.utils.flop_counter's convention, and
fvcore's x2). Only matrix products and convolutions are counted — the ops that
dominate a forward pass; element-wise ops, softmax, norms and lookups count 0.

Why attention needs care. ``FlopCounterMode`` sees the ops the dispatcher
runs and counts those it has a formula for. ``F.scaled_dot_product_attention``
on CPU runs one fused kernel, ``aten._scaled_dot_product_flash_attention_for_cpu``,
for which torch has no formula, so its two matrix products (Q K^T and A V)
silently count 0: mnist1d-transformer read 1,317,120 FLOPs instead of
1,368,320, minilm 679,477,248 instead of 688,914,432.

What we do, and why this way:

1. Count under ``sdpa_kernel(SDPBackend.MATH)``. The math backend is a
   composite op: it decomposes into ``matmul``/``bmm`` calls the counter already
   has exact formulas for, so attention is counted by the same rule as
   hand-written attention (HF "eager" attention, ``need_weights=True``
   ``nn.MultiheadAttention``), on every device where math decomposes, whatever
   fused kernel a given torch version would otherwise pick. It only changes
   which kernel computes the counted pass, not the arithmetic being counted.
2. Also pass the counter a ``custom_mapping`` for the fused attention kernels
   torch has no formula for (the CPU flash kernel; the MPS math kernel, which
   is itself fused, so MATH does not decompose there). This is a backstop for
   a model that forces its own backend inside ``forward`` and for MPS. A fused
   kernel runs natively, so its inner products are never also seen: no double
   count. ``custom_mapping`` is local to this counter; ``register_flop_formula``
   would mutate torch's process-wide registry and raise once torch ships its
   own formula for the op.

Both give 2 matmuls x 2*L*S*d FLOPs per head (L queries, S keys, d head size),
with no discount for a causal mask — torch's own ``sdpa_flop`` convention.

The MHA "fast path" (``torch._transformer_encoder_layer_fwd`` and friends)
hides every matmul of an encoder layer in one fused op, so it is switched off
for the counted pass and restored after.
"""
from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

# Fused attention kernels without a torch flop formula (names vary by torch
# version and build; only those this torch has are mapped).
_FUSED_ATTENTION_WITHOUT_FORMULA = (
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_attention_math_for_mps",
)


def attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of scaled dot-product attention from its input shapes (a FlopCounterMode formula).

    query (b, h, L, d), key (b, h_kv, S, d), value (b, h_kv, S, d_v), h a multiple
    of h_kv (grouped-query attention broadcasts key/value heads):
    Q K^T is b*h (L x d)(d x S) products, 2*b*h*L*S*d FLOPs; A V is
    b*h (L x S)(S x d_v), 2*b*h*L*S*d_v. Softmax, scale and mask count 0.
    """
    b, h, length, d = query_shape
    s, d_v = key_shape[-2], value_shape[-1]
    return 2 * b * h * length * s * d + 2 * b * h * length * s * d_v


def _attention_formulas() -> dict:
    """{op packet: formula} for the fused attention kernels this torch has."""
    return {getattr(torch.ops.aten, name): attention_flops
            for name in _FUSED_ATTENTION_WITHOUT_FORMULA if hasattr(torch.ops.aten, name)}


def _first_sample(arg):
    """The first sample of a batched forward() arg (batch along dim 0); anything else as is."""
    if isinstance(arg, torch.Tensor) and arg.dim() > 0:
        return arg[:1]
    return arg


def count_flops(model: torch.nn.Module, args: tuple) -> int:
    """FLOPs of ONE sample's forward pass (a multiply-add counts 2), attention included.

    args: the forward() args, each batched along dim 0; the first sample of each
    is run once under the counter (no_grad), on whatever device it is on.
    """
    one = tuple(_first_sample(a) for a in args)
    counter = FlopCounterMode(display=False, custom_mapping=_attention_formulas())
    # The fused transformer fast path hides its matmuls from the counter.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH), counter, torch.no_grad():
            model(*one)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())
