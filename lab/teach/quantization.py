"""Linear (affine) quantization of a weight tensor, step by step, and the figures that show it.

The arithmetic, for ``bits`` b::

    symmetric:   integers -2^(b-1) .. 2^(b-1)-1, zero-point 0,  scale = max|w| / (2^(b-1)-1)
    asymmetric:  integers 0 .. 2^b-1,  scale = (max - min) / (2^b - 1),  zero-point = -round(min / scale)
    quantize:    q = clip(round(w / scale) + zero_point, qmin, qmax)          (rounding, then clipping)
    dequantize:  w' = (q - zero_point) * scale                                 (what the layer computes with)

``per_channel`` gives each output channel (row of a Linear weight, dim 0 of any weight) its own
scale and zero-point; per-tensor shares one across the whole tensor. The range is min/max by
default; ``percentile`` below 100 calibrates it to that percentile of the weights instead, so the
tails are clipped (a coarser-but-narrower grid: less rounding error, some clipping error).

    affine_params(w, bits, symmetric=True, per_channel=False)   -> (scale, zero_point)
    fake_quantize(w, bits, ...)                                 -> the dequantized tensor (torch's op)
    integers(w, bits, ...)                                      -> the integers q, by hand
    quant_error(w, bits, ...)                                   -> per-channel mean/max |error|, clipped fraction
    draw_grid(ax, w, bits, ...)                                 -> histogram with the grid levels over it
    draw_channel_error(ax, w, bits, ...)                        -> per-channel error, per-tensor vs per-channel
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from lab.errors import FieldError
from lab.plots import palette

MIN_BITS, MAX_BITS = 2, 16
BITS_ALLOWED = f"a whole number of bits from {MIN_BITS} to {MAX_BITS}"
PERCENTILE_ALLOWED = "a percentile of the weights above 50 and up to 100 (100: the full min/max range)"
MAX_LINES = 32  # grid lines drawn at most: int4's 16 levels all, int8's 256 every 8th
_EPS = torch.finfo(torch.float32).eps  # smallest scale, as torch's observers clamp it (an all-zero channel)


class QuantError(NamedTuple):
    """Per output channel (row): mean and max |dequantized - original|; ``clipped``: the fraction
    of all weights that fell outside the grid's range (clipped to its end)."""
    mean_abs: torch.Tensor
    max_abs: torch.Tensor
    clipped: float


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise FieldError("bits", bits, BITS_ALLOWED)
    return bits


def check_percentile(percentile) -> float:
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 50 < percentile <= 100:
        raise FieldError("percentile", percentile, PERCENTILE_ALLOWED)
    return float(percentile)


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integers a ``bits``-bit code can hold: signed for symmetric, unsigned for asymmetric."""
    bits = check_bits(bits)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)


def _weights(w) -> torch.Tensor:
    w = torch.as_tensor(w).detach()
    if w.dim() == 0 or w.numel() == 0 or not w.is_floating_point():
        raise FieldError("w", tuple(w.shape), "a non-empty floating-point weight tensor (at least 1 dimension)")
    return w.float()


def _rows(w: torch.Tensor) -> torch.Tensor:
    """One row per output channel (dim 0), everything else flattened."""
    return w.reshape(w.shape[0], -1)


def _bounds(values: torch.Tensor, percentile: float, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper end of the range to cover, per row of ``values`` (2-D)."""
    if symmetric:
        a = values.abs()
        top = a.amax(dim=1) if percentile == 100 else torch.quantile(a, percentile / 100, dim=1)
        return -top, top
    if percentile == 100:
        return values.amin(dim=1), values.amax(dim=1)
    q = torch.tensor([1 - percentile / 100, percentile / 100])
    low, high = torch.quantile(values, q, dim=1)
    return low, high


def affine_params(w, bits: int, *, symmetric: bool = True, per_channel: bool = False,
                  percentile: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, zero_point)``: float32 and int32 tensors, 0-d per-tensor or one per output channel.

    Written out by hand to show the arithmetic (the module docstring); torch's observers
    (torch.ao.quantization.MinMaxObserver) compute the same kind of thing, and ``fake_quantize`` hands these
    numbers to torch's own fake-quantization ops (tests check that they agree with the hand path).
    """
    w = _weights(w)
    qmin, qmax = qrange(bits, symmetric)
    percentile = check_percentile(percentile)
    values = _rows(w) if per_channel else w.reshape(1, -1)
    low, high = _bounds(values, percentile, symmetric)
    # The range always holds 0, so that 0 (a padded or pruned weight) is exactly representable.
    low, high = torch.minimum(low, torch.zeros_like(low)), torch.maximum(high, torch.zeros_like(high))
    if symmetric:
        scale = (high / qmax).clamp_min(_EPS)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = ((high - low) / (qmax - qmin)).clamp_min(_EPS)
        zero_point = (qmin - torch.round(low / scale)).clamp(qmin, qmax).to(torch.int32)
    if not per_channel:
        scale, zero_point = scale[0], zero_point[0]
    return scale.float(), zero_point


def _per_row(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A per-channel parameter shaped to broadcast against ``w`` (dim 0); a 0-d one unchanged."""
    return t if t.dim() == 0 else t.reshape(-1, *([1] * (w.dim() - 1)))


def _unclipped(w: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """round(w / scale) + zero_point, before clipping to the integers' range."""
    return torch.round(w * (1.0 / _per_row(scale, w))) + _per_row(zero_point, w)


def integers(w, bits: int, *, symmetric: bool = True, per_channel: bool = False,
             percentile: float = 100.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(q, scale, zero_point)``: the integer codes, by hand: round, shift by the zero-point, clip.

    ``w * (1 / scale)`` rather than ``w / scale``: torch's kernels multiply by the inverse, so the
    two paths round the same way even where a value sits within a float's width of a half."""
    w = _weights(w)
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = affine_params(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
    return _unclipped(w, scale, zero_point).clamp(qmin, qmax), scale, zero_point


def fake_quantize(w, bits: int, *, symmetric: bool = True, per_channel: bool = False,
                  percentile: float = 100.0) -> torch.Tensor:
    """``w`` quantized and dequantized again: the values the quantized layer computes with.

    torch's own ops (torch.fake_quantize_per_tensor_affine / per_channel_affine, the ones
    quantization-aware training uses) do the rounding and clipping, with our ``affine_params``."""
    w = _weights(w)
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = affine_params(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
    if per_channel:
        return torch.fake_quantize_per_channel_affine(w, scale, zero_point, 0, qmin, qmax)
    return torch.fake_quantize_per_tensor_affine(w, scale, zero_point, qmin, qmax)


def quant_error(w, bits: int, *, symmetric: bool = True, per_channel: bool = False,
                percentile: float = 100.0) -> QuantError:
    """Rounding and clipping error per output channel (row), whichever scheme set the grid."""
    w = _weights(w)
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = affine_params(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
    unclipped = _unclipped(w, scale, zero_point)
    clipped = ((unclipped < qmin) | (unclipped > qmax)).float().mean().item()
    error = _rows((fake_quantize(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
                   - w).abs())
    return QuantError(error.mean(dim=1), error.amax(dim=1), clipped)


def _scheme(bits: int, symmetric: bool, per_channel: bool) -> str:
    return f"int{bits} {'symmetric' if symmetric else 'asymmetric'}, {'per-channel' if per_channel else 'per-tensor'}"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def draw_grid(ax, w, bits: int, *, symmetric: bool = True, per_channel: bool = False, percentile: float = 100.0,
              channel: int | None = None):
    """The histogram of ``w`` with the quantization grid's levels drawn over it; returns ``ax``.

    Every level for up to 32 levels (int4's 16), else every n-th level counted from the zero-point
    (int8: every 8th of 256; the legend says which). The grid's ends are drawn bold; weights beyond
    them are clipped (shaded, with their share in the legend). Per-channel, each channel has its own
    grid, so one channel is shown: ``channel`` (default: the one of median range); per-tensor,
    ``channel`` shows that row's weights against the shared grid (default: all weights).
    The title gives the scale and zero-point."""
    w = _weights(w)
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = affine_params(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
    rows = _rows(w)
    if per_channel and channel is None:
        ranges = rows.amax(dim=1) - rows.amin(dim=1)
        channel = int(ranges.argsort()[len(ranges) // 2])
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)
                                or not 0 <= channel < rows.shape[0]):
        raise FieldError("channel", channel, f"an output channel index from 0 to {rows.shape[0] - 1}")
    values = rows[channel] if channel is not None else w.reshape(-1)
    s = float(scale[channel] if per_channel else scale)
    z = int(zero_point[channel] if per_channel else zero_point)
    blue, orange = palette()[:2]

    n_levels = qmax - qmin + 1
    step = 1 if n_levels <= MAX_LINES else n_levels // MAX_LINES
    first = qmin + (z - qmin) % step  # so that the zero-point's level (real 0) is one of those drawn
    levels = [(q - z) * s for q in range(first, qmax + 1, step)]
    low, high = (qmin - z) * s, (qmax - z) * s

    data = values.numpy()
    counts, _, _ = ax.hist(data, bins=100 if len(data) > 2000 else 40, color=blue, alpha=0.7,
                           label=f"weights ({len(data):,})")
    what = f"all {n_levels} levels" if step == 1 else f"every {_ordinal(step)} of {n_levels} levels"
    for i, level in enumerate(levels):
        ax.axvline(level, color=orange, linewidth=0.8, alpha=0.9, label=f"grid: {what}" if i == 0 else None)
    for i, end in enumerate((low, high)):
        ax.axvline(end, color="black", linewidth=2.0, label="ends of the grid (clip beyond)" if i == 0 else None)
    codes = _unclipped(values, torch.tensor(s), torch.tensor(z))  # the same rule as quant_error's
    clipped = float(((codes < qmin) | (codes > qmax)).float().mean())
    lo_data, hi_data = float(values.min()), float(values.max())
    if clipped > 0:
        ax.axvspan(min(lo_data, low), low, color="0.6", alpha=0.3, linewidth=0,
                   label=f"clipped: {100 * clipped:.2f} % of these weights")
        ax.axvspan(high, max(hi_data, high), color="0.6", alpha=0.3, linewidth=0)
    span = max(hi_data, high) - min(lo_data, low)
    ax.set_xlim(min(lo_data, low) - 0.03 * span, max(hi_data, high) + 0.03 * span)
    ax.set_xlabel("weight value (real number, as stored in fp32)")
    ax.set_ylabel("weights (count)")
    shown = f"Output channel {channel}" if channel is not None else "All weights of the layer"
    ax.set_title(f"{shown} under the {_scheme(bits, symmetric, per_channel)} grid\n"
                 f"scale = {s:.4g} (spacing of the levels), zero-point = {z}")
    ax.set_ylim(0, 1.4 * float(counts.max()))  # headroom: the legend sits above the histogram
    ax.legend(loc="upper center", ncols=2, fontsize="small", framealpha=0.9)
    return ax


def draw_channel_error(ax, w, bits: int, *, symmetric: bool = True, percentile: float = 100.0):
    """Mean (solid) and max (dashed) |error| per output channel, per-tensor and per-channel grids on the
    same axes, channels sorted by their weight range (narrow-range channels gain most from their own
    scale); returns ``ax``."""
    w = _weights(w)
    check_bits(bits)
    rows = _rows(w)
    order = (rows.amax(dim=1) - rows.amin(dim=1)).argsort()
    x = torch.arange(len(order)).numpy()
    marker = "o" if len(order) <= 64 else None
    colours = {False: palette()[0], True: palette()[2]}
    for per_channel in (False, True):
        err = quant_error(w, bits, symmetric=symmetric, per_channel=per_channel, percentile=percentile)
        name = "per-channel" if per_channel else "per-tensor"
        colour = colours[per_channel]
        clip = f", {100 * err.clipped:.2f} % clipped" if err.clipped > 0 else ""
        ax.plot(x, err.mean_abs[order].numpy(), color=colour, linewidth=1.6, marker=marker, markersize=3,
                label=f"{name}: mean |error| (average {float(err.mean_abs.mean()):.3g}{clip})")
        ax.plot(x, err.max_abs[order].numpy(), color=colour, linewidth=1.0, linestyle="--", alpha=0.8,
                label=f"{name}: max |error|")
    ax.set_ylim(0, 1.45 * max(line.get_ydata().max() for line in ax.lines))  # headroom for the legend
    ax.set_xlabel("output channel, sorted by its weight range (rank)")
    ax.set_ylabel("|quantized - original| (weight units)")
    ax.set_title(f"int{bits} {'symmetric' if symmetric else 'asymmetric'} rounding and clipping error "
                 f"per output channel:\none scale for the tensor vs one scale per channel")
    ax.legend(loc="upper center", ncols=2, fontsize="small", framealpha=0.9)
    return ax
