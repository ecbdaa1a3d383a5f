"""Precision and quantization: ``quantize(model, scheme, device) -> model``.

One verb and a registry of schemes, each a config object (like torchao's
``quantize_(model, config)``), and every fact about a scheme on its entry
(``Scheme``): the devices it runs on and, where that is not enough, a
``requires`` check (fp8 needs compute capability 8.9), together as
``reason(device)``; the precision its matmuls really run in
(``precision(compiled)``, which lab.roofline holds the row against); and the
bytes a quantized weight takes (``bytes_per_weight``). Asking for a scheme
where it can't run raises Unsupported with a one-line reason, which the runner
stores as the row's ``error`` (a sweep goes on); ``supported(scheme, device)``
gives the same reason without a model, for the dashboard to grey out options.
``coverage(model)`` says what share of the weights a scheme really quantized.

    model = quantize(model, "int8-static", "cpu", example_input=x, calibration=x_train)
    y = model(cast_input(x, "int8-static"))

| scheme               | devices   | weights (library)               | activations                       |
|----------------------|-----------|---------------------------------|-----------------------------------|
| fp32, bf16, fp16     | all       | that float type                 | that float type                   |
| int8-dynamic         | cpu       | int8 per tensor (torch.ao)      | int8, one scale per call          |
| int8-dynamic-torchao | cpu, cuda | int8 per row (torchao)          | int8, one scale per row (token)   |
| int8-weight-only     | cpu, cuda | int8 per row (torchao)          | fp32                              |
| int4-weight-only     | cpu, cuda | int4, groups of 32-128 (torchao)| bf16                              |
| int8-static          | cpu       | int8 per channel (torchao PT2E) | uint8, scales fixed by calibration|
| fp8                  | cuda 8.9+ | float8 e4m3 per tensor (torchao)| float8, one scale per call        |

Each scheme declares the layer types it quantizes (``Scheme.layer_types``, with
``layer_note`` for the limits): int8-dynamic takes nn.Linear, nn.GRU and nn.LSTM
(torch.ao's dynamic RNN kernels), the torchao weight-only and dynamic schemes
nn.Linear only (int8-static also convolutions), int4 / fp8 only the Linear
shapes their kernels take; everything else keeps the input dtype. ``coverage``
counts what really ended up quantized, and flags a model under half quantized.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Callable

import torch
from torch import nn

from lab.errors import Unsupported
from lab.transforms.devices import device_reason
from lab.transforms import quantize_coverage as _coverage
from lab.transforms import quantize_torchao as _ao


@dataclasses.dataclass(frozen=True)
class QuantContext:
    """What a scheme may need besides the model.

    device: where the model is and will run
    example_input: args of one forward pass (a tuple; on ``device``, cast to the scheme's input dtype);
        empty when the caller gave none
    calibration: real training inputs (CPU, samples along dim 0) for static quantization, or None
    """

    device: torch.device
    example_input: tuple = ()
    calibration: torch.Tensor | None = None


# What matmuls can run in: the ceilings lab.roofline measures, one per precision.
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "fp8")


@dataclasses.dataclass(frozen=True)
class Scheme:
    """One precision / quantization scheme and every fact about it.

    name: the ``quant`` column's value
    input_dtype: dtype floating inputs are cast to before the forward pass
    device_types: torch device types it runs on ('cpu', 'cuda', 'mps')
    apply: ``apply(model, ctx: QuantContext) -> model`` (model already on ctx.device; may be modified in place)
    description: what it does, one line
    requires: extra check, ``requires(device) -> reason it can't run there, or None``; use ``reason(device)``,
        which also checks ``device_types``
    needs_calibration: apply reads ``ctx.calibration`` (so callers load training inputs only for these)
    compute_precision: the precision its matrix multiplies really run in, eager mode: 'fp32', 'bf16',
        'fp16', 'int8' or 'fp8' (a lab.roofline ceiling). Weight-only schemes dequantize the weights
        and multiply in the activation dtype, so int8-weight-only computes in fp32
    compiled_precision: the same under torch.compile where it differs (int8-static: eager runs fp32
        matmuls between quantize/dequantize ops; inductor fuses them into int8 kernels), else None;
        use ``precision(compiled)``
    layer_types: the layer types (class names) it converts; CAST for a float scheme (every parameter)
    layer_note: what it leaves, and why, in one line (README and ``python -m lab models --schemes``)
    bytes_per_weight: bytes one weight element of a *quantized* layer takes as stored (fp32 4, bf16 2,
        int8 1, int4 0.5, fp8 1), ignoring the scales and zero points stored beside them (a few %
        for per-row / per-group scales) and the layers a scheme leaves in higher precision (see
        ``coverage``)
    """

    name: str
    input_dtype: torch.dtype
    device_types: tuple[str, ...]
    apply: Callable[[nn.Module, QuantContext], nn.Module]
    description: str = ""
    requires: Callable[[torch.device], str | None] | None = None
    needs_calibration: bool = False
    _: dataclasses.KW_ONLY  # the facts below have no default: every scheme states them
    compute_precision: str
    bytes_per_weight: float
    layer_types: tuple[str, ...]
    layer_note: str = ""
    compiled_precision: str | None = None

    @property
    def quantizes(self) -> bool:
        """Whether it converts chosen layers to a quantized format (not a plain float cast)."""
        return self.layer_types != CAST

    def __post_init__(self):
        for field in ("compute_precision", "compiled_precision"):
            value = getattr(self, field)
            if value is not None and value not in PRECISIONS:
                raise ValueError(f"{field}={value!r} is not allowed: one of {', '.join(PRECISIONS)}")

    def reason(self, device: str | torch.device) -> str | None:
        """Why ``device`` can't run this scheme (one line), or None if it can."""
        return device_reason("quant", self.name, self.device_types, self.requires, device)

    def precision(self, compiled: bool = False) -> str:
        """The precision its matmuls run in: ``compiled_precision`` under torch.compile where set,
        else ``compute_precision``."""
        return (self.compiled_precision or self.compute_precision) if compiled else self.compute_precision


SCHEMES: dict[str, Scheme] = {}
CAST = ("every layer (a dtype cast)",)
SCHEME_ATTR = "lab_quant_scheme"  # quantize() leaves the scheme's name on its result, for coverage()


def register(scheme: Scheme) -> Scheme:
    SCHEMES[scheme.name] = scheme
    return scheme


# --- int8-dynamic: torch.ao's eager dynamic quantization ----------------------------------------

class MHAFastPathOff(nn.Module):
    """Runs ``module`` with the nn.TransformerEncoderLayer fast path switched off, then restores it.

    The fast path reads ``linear1.weight`` as a tensor, but a dynamically quantized Linear's
    ``weight`` is a method, so the quantized model would crash in eval/inference mode. The switch
    (torch.backends.mha.set_fastpath_enabled) is process-global, so it is flipped only for the
    duration of each call; a model running in another thread at that moment also takes the slow path.
    Cost: two flag writes per call, about 1 µs (below the noise of any model worth timing)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.module(*args, **kwargs)
        finally:
            torch.backends.mha.set_fastpath_enabled(before)


DYNAMIC_TYPES = (nn.Linear, nn.GRU, nn.LSTM)  # what torch.ao's quantize_dynamic has int8 kernels for


def _int8_dynamic(model: nn.Module, ctx: QuantContext) -> nn.Module:
    """torch.ao.quantization.quantize_dynamic on nn.Linear, nn.GRU and nn.LSTM (qint8 weights,
    per-batch activation scale; the recurrent layers' input and hidden matrices both quantized).

    torch.ao.quantization is deprecated in torch 2.13 (its successor is torchao), but on CPU its
    fbgemm kernels are still the fastest int8 path in eager mode (int8-dynamic-torchao is slower
    here), so the lab keeps it and silences its deprecation warnings around this one call."""
    if not _ao.linears(model) and not any(type(m) in DYNAMIC_TYPES for m in model.modules()):
        raise Unsupported("int8-dynamic quantizes nn.Linear layers (and nn.GRU, nn.LSTM); this model has none")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        model = torch.ao.quantization.quantize_dynamic(model, set(DYNAMIC_TYPES), dtype=torch.qint8)
    if any(isinstance(m, nn.TransformerEncoderLayer) for m in model.modules()):
        model = MHAFastPathOff(model)
    return model


def _float(dtype: torch.dtype) -> Callable[[nn.Module, QuantContext], nn.Module]:
    return lambda model, ctx: model.to(dtype)


ALL = ("cpu", "cuda", "mps")
_CAST_NOTE = "nothing: every parameter and activation is cast (integer inputs such as token ids stay)"
_LINEAR_ONLY = "nn.Linear weights only (torchao quantize_); recurrent layers, convolutions, embeddings and norms stay"
register(Scheme("fp32", torch.float32, ALL, _float(torch.float32), "32-bit float (reference)",
                compute_precision="fp32", bytes_per_weight=4, layer_types=CAST,
                layer_note=_CAST_NOTE))
register(Scheme("bf16", torch.bfloat16, ALL, _float(torch.bfloat16),
                "bfloat16 weights and activations (fast where the CPU has AVX512-BF16/AMX, or a GPU)",
                compute_precision="bf16", bytes_per_weight=2, layer_types=CAST,
                layer_note=_CAST_NOTE))
register(Scheme("fp16", torch.float16, ALL, _float(torch.float16),
                "float16 weights and activations (GPUs; often slow on CPUs)",
                compute_precision="fp16", bytes_per_weight=2, layer_types=CAST,
                layer_note=_CAST_NOTE))
# int8 x int8 products with int32 accumulation: fbgemm's int8 GEMM (torch.ao) and torch._int_mm (torchao).
register(Scheme("int8-dynamic", torch.float32, ("cpu",), _int8_dynamic,
                "int8 Linear / GRU / LSTM weights, activations quantized per batch on the fly (torch.ao, fbgemm/x86)",
                compute_precision="int8", bytes_per_weight=1, layer_types=("Linear", "GRU", "LSTM"),
                layer_note="weights only (biases stay fp32); convolutions, nn.RNN, embeddings, norms and "
                           "nn.MultiheadAttention's projections stay fp32"))
register(Scheme("int8-dynamic-torchao", torch.float32, ("cpu", "cuda"), _ao.int8_dynamic,
                "int8 Linear weights, activations quantized per token on the fly (torchao)",
                requires=_ao.missing_torchao, compute_precision="int8", bytes_per_weight=1, layer_types=("Linear",),
                layer_note=_LINEAR_ONLY))
# Weight-only: weights dequantized inside the matmul, which runs in the activation dtype (input_dtype).
register(Scheme("int8-weight-only", torch.float32, ("cpu", "cuda"), _ao.int8_weight_only,
                "int8 Linear weights dequantized in the matmul, fp32 activations (torchao)",
                requires=_ao.missing_torchao, compute_precision="fp32", bytes_per_weight=1, layer_types=("Linear",),
                layer_note=_LINEAR_ONLY))
register(Scheme("int4-weight-only", torch.bfloat16, ("cpu", "cuda"), _ao.int4_weight_only,
                "int4 Linear weights in groups of up to 128, bf16 activations (torchao)",
                requires=_ao.int4_requires, compute_precision="bf16", bytes_per_weight=0.5, layer_types=("Linear",),
                layer_note="Linear weights whose in_features a group of 32-128 divides (CPU: out_features a "
                           "multiple of 16); the rest, recurrent and convolutions stay bf16"))
register(Scheme("int8-static", torch.float32, ("cpu",), _ao.int8_static,
                "int8 weights and activations, scales calibrated on training samples (PT2E, x86); "
                "eager mode runs quantize/dequantize ops (slow), the compile knob fuses them",
                requires=_ao.missing_torchao, needs_calibration=True,
                compute_precision="fp32", compiled_precision="int8", bytes_per_weight=1,
                layer_types=("Linear", "Conv1d", "Conv2d"),
                layer_note="what torchao's X86InductorQuantizer annotates (Linear, Conv); recurrent layers, "
                           "embeddings and norms stay fp32"))
register(Scheme("fp8", torch.bfloat16, ("cuda",), _ao.fp8,
                "float8 e4m3 Linear weights and activations (torchao; Ada/Hopper GPUs)",
                requires=_ao.fp8_requires, compute_precision="fp8", bytes_per_weight=1, layer_types=("Linear",),
                layer_note="Linear weights with both dims multiples of 16; the rest stays bf16"))


def get(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"quant={name!r} is not allowed: one of {', '.join(SCHEMES)}") from None


def supported(scheme: str, device: str | torch.device) -> str | None:
    """Why ``scheme`` can't run on ``device`` (one line), or None if it can: ``get(scheme).reason(device)``.
    Unknown scheme: ValueError."""
    return get(scheme).reason(device)


def quantize(model: nn.Module, scheme: str, device: str | torch.device, *, example_input=None,
             calibration: torch.Tensor | None = None) -> nn.Module:
    """Return ``model`` (already on ``device``) converted to ``scheme``; it may be modified in place.

    example_input: a tensor or tuple of tensors for one forward pass (cast and moved here as needed)
    calibration: real training inputs (samples along dim 0) for int8-static; other schemes ignore it
    Raises Unsupported (one-line reason) where the scheme can't run, ValueError for an unknown scheme.
    """
    s = get(scheme)
    dev = torch.device(device)
    reason = supported(scheme, dev)
    if reason is not None:
        raise Unsupported(reason)
    if example_input is None:
        args = ()
    else:
        args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
        args = tuple(t.to(dev) if torch.is_tensor(t) else t for t in cast_input(args, scheme))
    with torch.no_grad():
        model = s.apply(model, QuantContext(dev, args, calibration))
    if s.quantizes:
        setattr(model, SCHEME_ATTR, s.name)
    return model


def cast_input(x, scheme: str):
    """Cast floating input tensors (or tuples of them) to the scheme's input dtype; leave token ids alone."""
    dtype = get(scheme).input_dtype
    if isinstance(x, (tuple, list)):
        return type(x)(cast_input(t, scheme) for t in x)
    return x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x


def coverage(model: nn.Module, scheme: str | None = None) -> dict:
    """{'quantized_frac': share of weight elements quantized (0-1), 'quantized_by_type': {layer type: share},
    'quant_coverage_low': whether a quantizing scheme converted under half of the weights}.
    scheme: the scheme asked for; by default the one quantize() recorded on ``model`` (none: a float
    model, never flagged). Call on quantize()'s result, before accelerate/compile; see
    quantize_coverage.coverage."""
    unwrapped = getattr(model, "_orig_mod", model)
    name = scheme or getattr(model, SCHEME_ATTR, None) or getattr(unwrapped, SCHEME_ATTR, None)
    return _coverage.coverage(model, name if name is not None and get(name).quantizes else None)
