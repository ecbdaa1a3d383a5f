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

Counted once per structure. The count depends only on the layers, their shapes and
the input's shape (zeros still multiply: unstructured pruning and every precision
count the same), so ``count_flops`` keeps its results by ``structure_key`` for the
process, and reads the built-in models' unpruned counts from data/models/flops.json
(written by ``python -m lab.measure.flops --record``; tests/measure/test_flops.py
recounts every entry). Why: the counter's dispatch mode imports torch._dynamo on
its first use, 1.4 s of a fresh kernel's first point on a 2-core laptop.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lab import code_hash

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


KNOWN_FILE = Path(__file__).resolve().parents[2] / "data" / "models" / "flops.json"
_COUNTED: dict[str, int] = {}  # structure_key -> FLOPs per sample, counted in this process


def structure_key(model: torch.nn.Module, args: tuple) -> str:
    """A hash of what a FLOP count depends on: the modules (their repr, and each module class's
    forward code, so a re-registered model that calls its layers differently is counted anew),
    every parameter's and buffer's name, shape and dtype, the shape and dtype of one sample of
    each arg, torch's version."""
    digest = hashlib.sha256(torch.__version__.encode())
    digest.update(repr(model).encode())
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: (c.__module__, c.__qualname__)):
        code = getattr(getattr(cls, "forward", None), "__code__", None)
        digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        if code is not None:
            code_hash.hash_code(digest, code, set(), 0)
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
    for a in args:
        one = _first_sample(a)
        digest.update(f"{tuple(one.shape)}:{one.dtype}".encode() if isinstance(one, torch.Tensor) else repr(one).encode())
    return digest.hexdigest()[:24]


@functools.lru_cache(maxsize=1)
def _known() -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(KNOWN_FILE.read_text())["flops_per_sample"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # a missing or damaged table only costs a count


def count_flops(model: torch.nn.Module, args: tuple) -> int:
    """FLOPs of ONE sample's forward pass (see ``count``), from the process's or the shipped
    table when this structure was counted before."""
    key = structure_key(model, args)
    if key not in _COUNTED:
        _COUNTED[key] = _known().get(key) or count(model, args)
    return _COUNTED[key]


def count(model: torch.nn.Module, args: tuple) -> int:
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


EXAMPLE_BATCH = 8  # lab.prepare's example batch (a test checks they agree; imported there would be a cycle)


def record(path: Path = KNOWN_FILE) -> dict:
    """Count every built-in model (as built, unpruned, fp32) at lab.prepare's example input and write
    the table ``count_flops`` reads: {structure_key: FLOPs per sample}, with what each entry is."""
    from lab.models import registry

    table, models = {}, {}
    for name in registry.names():
        spec = registry.get(name)
        try:
            model = spec.build().eval()
        except ImportError:  # an optional model not installed here
            continue
        x = spec.make_input(EXAMPLE_BATCH)
        args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        key = structure_key(model, args)
        with torch.inference_mode():
            table[key] = count(model, args)
        models[name] = key
    data = {"torch_version": torch.__version__, "flops_per_sample": table, "models": models,
            "made_by": "python -m lab.measure.flops --record"}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m lab.measure.flops --record   (writes data/models/flops.json)")
    for name, key in record()["models"].items():
        print(f"{name:<22} {key}")
