"""2:4 semi-structured sparsity: the one sparse pattern a GPU runs faster out of the box.

Two steps, because the kernel needs low-precision weights and pruning comes
before precision in the runner:

1. ``mask_2_4(model)`` (prune time): in every group of 4 consecutive weights
   along each eligible nn.Linear's input dim, zero the 2 of smallest magnitude.
   The zeros are dense zeros; the model still runs anywhere.
2. ``to_sparse_kernels(model)`` (after precision): each 2:4-masked fp16/bf16/int8
   weight becomes ``torch.sparse.to_sparse_semi_structured(...)``, so F.linear
   dispatches to the sparse tensor-core kernel (cuSPARSELt or CUTLASS).

Needs a CUDA GPU of compute capability 8.0+ (Ampere or newer).
"""
from __future__ import annotations

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from lab.errors import Unsupported
from lab.transforms.prune_base import permanent

MIN_CAPABILITY = (8, 0)
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.int8)
# Shapes the kernels take (torch.sparse.semi_structured's _DTYPE_SHAPE_CONSTRAINTS, torch 2.13): fp16/bf16
# need out features a multiple of 32 (CUTLASS; 16 for cuSPARSELt) and in features a multiple of 64
# (CUTLASS; 16 for cuSPARSELt). We mask only layers that satisfy the stricter of the two backends, since
# which one runs is torch's choice; int8 with CUTLASS also needs in features a multiple of 128.
ROW_MULTIPLE, COL_MULTIPLE, INT8_COL_MULTIPLE = 32, 64, 128


def device_problem(device: torch.device) -> str | None:
    """Why ``device`` can't run 2:4 sparse kernels, or None if it can."""
    prefix = "2:4 semi-structured sparsity needs a CUDA GPU of compute capability 8.0 or newer (Ampere)"
    if device.type != "cuda":
        return f"{prefix}; this device is {device.type}"
    if not torch.cuda.is_available():
        return f"{prefix}; torch sees no CUDA device on this machine"
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < MIN_CAPABILITY:
        return f"{prefix}; this device is {torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    return None


def _eligible(model: nn.Module) -> list[nn.Module]:
    # nn.MultiheadAttention's out_proj is a Linear whose forward never runs (attention reads the
    # weight directly, in fused kernels that take no sparse tensors), so it stays dense.
    return [m for m in model.modules()
            if isinstance(m, nn.Linear) and not isinstance(m, nn.modules.linear.NonDynamicallyQuantizableLinear)
            and m.weight.dim() == 2 and m.weight.shape[0] % ROW_MULTIPLE == 0
            and m.weight.shape[1] % COL_MULTIPLE == 0]


def mask_2_4(model: nn.Module) -> nn.Module:
    """Zero the 2 smallest-magnitude weights in every group of 4 along the input dim, in place."""
    layers = _eligible(model)
    if not layers:
        raise Unsupported(f"2:4: no nn.Linear has a shape the sparse kernel takes (out features a multiple "
                          f"of {ROW_MULTIPLE}, in features a multiple of {COL_MULTIPLE})")
    with permanent(layers):
        for m in layers:
            # Hand-written (4 lines) rather than torch.ao.pruning's deprecated WeightNormSparsifier:
            # rows are contiguous, so reshape(-1, 4) walks groups of 4 along the input dim.
            with torch.no_grad():
                groups = m.weight.detach().reshape(-1, 4)
                drop = groups.abs().topk(2, dim=1, largest=False).indices
                mask = torch.ones_like(groups, dtype=torch.bool).scatter_(1, drop, False).reshape(m.weight.shape)
            torch_prune.custom_from_mask(m, "weight", mask)
    return model


def is_2_4(weight: torch.Tensor) -> bool:
    """Whether every group of 4 along the last dim holds at least 2 zeros."""
    if type(weight) not in (torch.Tensor, nn.Parameter) or weight.dim() != 2 or weight.shape[1] % 4:
        return False
    return bool(((weight.detach().reshape(-1, 4) == 0).sum(dim=1) >= 2).all())


def to_sparse_kernels(model: nn.Module) -> nn.Module:
    """Turn each 2:4-masked Linear weight into a semi-structured sparse tensor, in place."""
    layers = [m for m in _eligible(model) if is_2_4(m.weight)]
    if not layers:
        raise Unsupported("2:4: no 2:4-masked nn.Linear left to accelerate "
                          "(quantization may have replaced the layers)")
    dtypes = {m.weight.dtype for m in layers}
    if torch.float32 in dtypes:
        raise Unsupported("2:4 needs fp16, bf16 or int8 weights; use --quant fp16/bf16")
    if not dtypes <= set(KERNEL_DTYPES):
        raise Unsupported("2:4 needs fp16, bf16 or int8 weights; these are "
                          f"{', '.join(sorted(str(d) for d in dtypes))}")
    if any(not m.weight.is_cuda for m in layers):
        raise Unsupported("2:4: the model's weights must be on the CUDA device before accelerate()")
    for m in layers:
        if m.weight.dtype == torch.int8 and m.weight.shape[1] % INT8_COL_MULTIPLE:
            continue  # stays dense (masked): CUTLASS's int8 kernel needs wider rows
        m.weight = nn.Parameter(torch.sparse.to_sparse_semi_structured(m.weight.detach().contiguous()),
                                requires_grad=False)
    return model
