"""The quantization schemes built on torchao: ``apply(model, ctx) -> model`` for the registry in quantize.py.

torchao is imported lazily, on the first scheme that needs it: ``import lab``
stays fast and quiet, and a machine without torchao gets a row error
("needs the torchao package") instead of an ImportError at import time.

Kernels these schemes reach (torchao 0.18, torch 2.13):

- int8-dynamic-torchao, int8-weight-only: ``Int8Tensor`` (per-row weights; the
  dynamic variant quantizes activations per token and multiplies with
  ``torch._int_mm``). CPU and CUDA.
- int4-weight-only: on CPU the prototype ``Int4OpaqueTensor``
  (``aten._weight_int4pack_mm_for_cpu``); on CUDA ``Int4TilePackedTo4dTensor``
  (tinygemm, ``aten._weight_int4pack_mm``, compute capability 8.0+). Both take
  bf16 activations. torchao's default int4 layout ("plain") needs the separate
  ``mslk`` CUDA package, so it is not used.
- fp8: ``Float8DynamicActivationFloat8WeightConfig`` (``torch._scaled_mm``,
  compute capability 8.9+).
- int8-static: the PT2E flow (torch.export, X86InductorQuantizer, calibration
  on real samples, convert). Eager mode runs the quantize/dequantize ops as
  written (slow: every call dequantizes the weights); torch.compile (the
  ``compile`` knob) fuses them into int8 kernels.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import warnings

import torch
from torch import nn

from lab.errors import Unsupported

MAX_CALIBRATION_SAMPLES = 512   # enough for stable histogram observers; calibration stays well under a second
CALIBRATION_BATCH = 64
INT4_GROUP_SIZES = (128, 64, 32)  # per layer, the largest that divides in_features (coarser groups store less)
INT4_CPU_ROW_MULTIPLE = 16      # _convert_weight_to_int4pack_for_cpu needs out_features % 16 == 0
INT4_CUDA_GROUP_SIZE = 128      # tinygemm pads in_features to a multiple of 1024 itself
FP8_MULTIPLE = 16               # torch._scaled_mm needs both matrix dims to be multiples of 16


class _DropImportNoise(logging.Filter):
    """Drops the known, harmless log lines of ``import torchao`` (0.18) on a CPU-only torch: its CUDA
    extension libraries (_C_mxfp8, _C_cutlass_90a) failing to load, and a pytree deprecation
    notice about one of its enums."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ((message.startswith("Failed to load") and "/torchao/_C" in message)
                    or "is now natively supported by torch.compile" in message)


@contextlib.contextmanager
def _quiet_imports():
    """Filters the known import-time noise (nothing else) while torchao and its PT2E modules load."""
    noise = _DropImportNoise()
    loggers = [logging.getLogger("torchao"), logging.getLogger("torch.utils._pytree")]
    for logger in loggers:
        logger.addFilter(noise)
    try:
        with warnings.catch_warnings():
            # torch.utils.mkldnn (imported through inductor by the PT2E x86 passes) still uses
            # torch.jit.script_method; not ours to fix, and nothing the user can act on.
            warnings.filterwarnings("ignore", message="`torch.jit.script_method` is deprecated")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)


@functools.cache
def torchao():
    """The torchao package, imported once, quietly."""
    with _quiet_imports():
        import torchao as package
        import torchao.quantization  # noqa: F401
    return package


def missing_torchao(device: torch.device) -> str | None:
    """``requires`` check of every torchao scheme: a reason if torchao is not installed."""
    if importlib.util.find_spec("torchao") is None:
        return "needs the torchao package (pip install torchao)"
    return None


def cuda_capability_problem(device: torch.device, minimum: tuple[int, int], what: str,
                            generations: str = "") -> str | None:
    """Why ``device`` is not a CUDA GPU of compute capability ``minimum`` or newer, or None."""
    prefix = f"{what} needs a CUDA GPU of compute capability {minimum[0]}.{minimum[1]} or newer{generations}"
    if device.type != "cuda":
        return f"{prefix}; this device is {device.type}"
    if not torch.cuda.is_available():
        return f"{prefix}; torch sees no CUDA device on this machine"
    capability = torch.cuda.get_device_capability(device)
    if capability < minimum:
        return (f"{prefix}; this device is {torch.cuda.get_device_name(device)} "
                f"(compute capability {capability[0]}.{capability[1]})")
    return None


def linears(model: nn.Module) -> list[nn.Linear]:
    # MultiheadAttention's out_proj (NonDynamicallyQuantizableLinear) is read directly by the attention
    # kernels, never called, so a quantized weight there would break attention; it stays float.
    return [m for m in model.modules()
            if isinstance(m, nn.Linear) and not isinstance(m, nn.modules.linear.NonDynamicallyQuantizableLinear)]


def _quantize_linears(model: nn.Module, config, eligible, scheme: str, needs: str) -> nn.Module:
    """torchao's ``quantize_`` on the eligible nn.Linear layers; Unsupported if there are none."""
    layers = {id(m) for m in linears(model) if eligible(m)}
    if not layers:
        raise Unsupported(f"{scheme} quantizes nn.Linear layers{needs}; this model has none")
    torchao().quantize_(model, config, filter_fn=lambda module, fqn: id(module) in layers)
    return model


# Every config gets set_inductor_config=False: torchao would otherwise change torch._inductor's global
# config (coordinate-descent tuning, ...) for the rest of the process, so later compiled rows of other
# schemes would be measured under different compiler settings than earlier ones.

def int8_dynamic(model: nn.Module, ctx) -> nn.Module:
    config = torchao().quantization.Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)
    return _quantize_linears(model, config, lambda m: True, "int8-dynamic-torchao", "")


def int8_weight_only(model: nn.Module, ctx) -> nn.Module:
    config = torchao().quantization.Int8WeightOnlyConfig(set_inductor_config=False)
    return _quantize_linears(model, config, lambda m: True, "int8-weight-only", "")


def int4_requires(device: torch.device) -> str | None:
    if device.type == "cuda":
        return missing_torchao(device) or cuda_capability_problem(device, (8, 0), "int4-weight-only", " (Ampere)")
    return missing_torchao(device)


def int4_weight_only(model: nn.Module, ctx) -> nn.Module:
    """Groupwise int4 weights, bf16 activations; layers whose shapes the kernel can't take stay bf16."""
    model = model.to(torch.bfloat16)
    quantization = torchao().quantization
    if ctx.device.type == "cuda":
        config = quantization.Int4WeightOnlyConfig(group_size=INT4_CUDA_GROUP_SIZE, set_inductor_config=False,
                                                   int4_packing_format="tile_packed_to_4d")
        return _quantize_linears(model, config, lambda m: m.in_features % INT4_CUDA_GROUP_SIZE == 0,
                                 "int4-weight-only", f" with in_features a multiple of {INT4_CUDA_GROUP_SIZE}")
    with _quiet_imports():
        from torchao.prototype.quantization.int4.inference_workflow import PrototypeInt4WeightOnlyConfig

    def group_size(m: nn.Linear) -> int | None:
        if m.out_features % INT4_CPU_ROW_MULTIPLE:
            return None
        return next((g for g in INT4_GROUP_SIZES if m.in_features % g == 0), None)

    needs = f" with out_features a multiple of {INT4_CPU_ROW_MULTIPLE} and in_features of {INT4_GROUP_SIZES[-1]}"
    sizes = {id(m): group_size(m) for m in linears(model)}
    if not any(sizes.values()):
        raise Unsupported(f"int4-weight-only quantizes nn.Linear layers{needs}; this model has none")
    for g in INT4_GROUP_SIZES:  # one pass per group size; each layer is in exactly one pass
        if g in sizes.values():
            config = PrototypeInt4WeightOnlyConfig(group_size=g, set_inductor_config=False)
            _quantize_linears(model, config, lambda m, g=g: sizes.get(id(m)) == g, "int4-weight-only", needs)
    return model


def fp8_requires(device: torch.device) -> str | None:
    return cuda_capability_problem(device, (8, 9), "fp8", " (Ada/Hopper)") or missing_torchao(device)


def fp8(model: nn.Module, ctx) -> nn.Module:
    """fp8 (e4m3) weights and dynamically scaled fp8 activations, bf16 elsewhere."""
    model = model.to(torch.bfloat16)
    config = torchao().quantization.Float8DynamicActivationFloat8WeightConfig(set_inductor_config=False)
    return _quantize_linears(model, config,
                             lambda m: m.in_features % FP8_MULTIPLE == 0 and m.out_features % FP8_MULTIPLE == 0,
                             "fp8", f" with both dims multiples of {FP8_MULTIPLE}")


def int8_static(model: nn.Module, ctx) -> nn.Module:
    """Post-training static int8: export with a dynamic batch dim, observe activations on real
    training samples (``ctx.calibration``), then convert to quantize/dequantize ops (the
    X86InductorQuantizer's recipe: uint8 per-tensor activations, int8 per-channel weights).
    Returns a torch.fx GraphModule that takes any batch size."""
    if ctx.calibration is None:
        raise Unsupported("int8-static needs calibration data: this model has no training split")
    if len(ctx.example_input) > 1:
        raise Unsupported(f"int8-static calibrates models that take one input tensor; this one takes "
                          f"{len(ctx.example_input)}")
    samples = _calibration_samples(ctx.calibration)
    if ctx.example_input and tuple(ctx.example_input[0].shape[1:]) != tuple(samples.shape[1:]):
        raise ValueError(f"calibration samples have shape {tuple(samples.shape[1:])} but the model's input "
                         f"has {tuple(ctx.example_input[0].shape[1:])}: pass the model's own training inputs")
    torchao()
    with _quiet_imports():
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer, get_default_x86_inductor_quantization_config)

    try:
        # The example batch has 2 samples: export specializes a dim of size 1 to a constant.
        graph = torch.export.export(model, (samples[:2],),
                                    dynamic_shapes=({0: torch.export.Dim("batch", min=1)},)).module()
    except Exception as exc:  # noqa: BLE001 — any capture failure means this model can't take this scheme
        first = (str(exc).strip().splitlines() or [""])[0]
        raise Unsupported(f"int8-static: torch.export could not capture this model ({type(exc).__name__}: "
                          f"{first})") from exc
    quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())
    graph = prepare_pt2e(graph, quantizer)
    for chunk in samples.split(CALIBRATION_BATCH):
        graph(chunk)
    graph = convert_pt2e(graph)
    _drop_unused_tensors(graph)
    allow_exported_model_train_eval(graph)  # so a later .eval() is harmless rather than an error
    return graph


def _calibration_samples(calibration: torch.Tensor) -> torch.Tensor:
    """At most MAX_CALIBRATION_SAMPLES, spread evenly over the set (training splits are often
    ordered by class, so the first N would see only a few classes); at least 2 (see export)."""
    if not torch.is_tensor(calibration) or len(calibration) == 0:
        raise ValueError("calibration must be a non-empty tensor of training inputs (samples along dim 0)")
    x = calibration.detach().cpu()
    x = x.float() if x.is_floating_point() else x
    if len(x) > MAX_CALIBRATION_SAMPLES:
        x = x[torch.linspace(0, len(x) - 1, MAX_CALIBRATION_SAMPLES).long()]
    if len(x) < 2:
        x = x.repeat(2, *([1] * (x.dim() - 1)))
    return x.contiguous()


def _drop_unused_tensors(graph: torch.fx.GraphModule) -> None:
    """Delete parameters and buffers the graph no longer reads. convert_pt2e adds the int8 weights
    as new constants but leaves the fp32 originals attached, so without this the state_dict (the
    lab's ``model_size_mib``) and the resident memory would hold both: 1.25x fp32 instead of 0.25x."""
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    for name, _ in [*graph.named_parameters(), *graph.named_buffers()]:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            delattr(graph.get_submodule(owner), attr)
