"""Control values -> configurations: the dashboard's logic, without widgets (unit-tested).

    values = {"model": "digits-mlp", "quant": "bf16", "batch_sizes": (1, 8, 64), "device": "cpu", "threads": 2}
    configs_from_controls(values)    # three Configs, one per batch size, smallest first
    refusal(values)                  # why this hardware can't run the selection, or None
    option_reasons("cpu")            # {"quant": {"fp8": "...", ...}, "prune_method": {...}} for labels

Control names are the vocabulary's (lab.columns), except ``batch_sizes``, the
set of batch sizes the curves run over. Values a control leaves out take DEFAULTS.
"""
from __future__ import annotations

from typing import Iterable

import torch

from lab import hardware
from lab.config import Config
from lab.models import registry
from lab.transforms import prune, quantize

BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SPARSITY_MAX = 0.95
SPARSITY_STEP = 0.05
FINETUNE_MAX = 10  # the widget's range; Config allows more
DEFAULTS = {"model": "digits-mlp", "prune_method": "none", "sparsity": 0.5, "finetune_epochs": 0, "quant": "fp32",
            "batch_sizes": (1, 8, 64), "device": "cpu", "threads": None, "compile": False}
CONTROLS = tuple(DEFAULTS)


def _fail(field: str, value, allowed: str):
    raise ValueError(f"{field}={value!r} is not allowed: {allowed}")


def merged(values: dict) -> dict:
    """DEFAULTS overlaid with ``values``; an unknown control name is a ValueError naming it."""
    unknown = [k for k in values if k not in DEFAULTS]
    if unknown:
        _fail(unknown[0], values[unknown[0]], "a dashboard control: one of " + ", ".join(CONTROLS))
    return {**DEFAULTS, **values}


def batch_sizes(value) -> tuple[int, ...]:
    """The batch sizes as a sorted tuple of distinct whole numbers (a single number is one size)."""
    sizes = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        _fail("batch_sizes", value, "one or more whole numbers, e.g. (1, 8, 64)")
    sizes = list(sizes)
    if not sizes:
        _fail("batch_sizes", tuple(sizes), "at least one batch size (choose one or more)")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            _fail("batch_sizes", value, "whole numbers of 1 or more, e.g. (1, 8, 64)")
    return tuple(sorted(set(sizes)))


def effective(values: dict) -> dict:
    """The knob values a selection really means: sparsity 0 and no fine-tuning without pruning,
    a pattern's fixed sparsity (2:4 -> 0.5), threads only on the CPU (None elsewhere),
    sparsity rounded to the slider's step (0.30000000000000004 -> 0.3: one config, one id)."""
    v = merged(values)
    method = v["prune_method"]
    if method not in prune.METHODS:
        _fail("prune_method", method, "one of " + ", ".join(prune.METHODS))
    spec = prune.METHODS[method]
    if method == "none":
        v["sparsity"], v["finetune_epochs"] = 0.0, 0
    elif spec.fixed_sparsity is not None:
        v["sparsity"] = spec.fixed_sparsity
    sparsity = v["sparsity"]
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity <= SPARSITY_MAX:
        _fail("sparsity", sparsity, f"a fraction from 0 to {SPARSITY_MAX}")
    v["sparsity"] = round(float(sparsity), 4)
    device = v["device"]
    if isinstance(device, str):
        device = v["device"] = hardware.normalize_device(device)
    if device != "cpu":
        v["threads"] = None
    v["batch_sizes"] = batch_sizes(v["batch_sizes"])
    return v


def configs_from_controls(values: dict) -> list[Config]:
    """One Config per batch size, smallest first (the first point arrives soonest).

    Raises ValueError naming the field for a bad value (an unknown control, no batch size,
    a model that is not registered, threads out of range, ...)."""
    v = effective(values)
    knobs = {k: v[k] for k in ("model", "prune_method", "sparsity", "finetune_epochs", "quant", "device",
                               "threads", "compile")}
    return [Config(batch_size=size, **knobs) for size in v["batch_sizes"]]


def _prune_reason(method: str, device: str) -> str | None:
    # The same test prune.prune makes before pruning (lab.transforms.prune._check_device).
    spec = prune.METHODS[method]
    dev = torch.device(device)
    reason = spec.check(dev) if spec.check is not None else None
    if reason is None and dev.type not in spec.device_types:
        reason = f"prune_method={method} does not run on {dev.type} (it runs on {', '.join(spec.device_types)})"
    return reason


def option_reasons(device: str) -> dict[str, dict[str, str | None]]:
    """For each quant scheme and pruning method: why ``device`` can't run it (one line), or None."""
    return {"quant": {name: quantize.supported(name, device) for name in quantize.SCHEMES},
            "prune_method": {name: _prune_reason(name, device) for name in prune.METHODS}}


def refusal(values: dict) -> str | None:
    """Why this hardware can't run the selection (the reason shown in the panel), or None."""
    v = merged(values)
    device = hardware.normalize_device(v["device"]) if isinstance(v["device"], str) else v["device"]
    if device not in hardware.available_devices():
        return f"device={device} is not on this machine (it has {', '.join(hardware.available_devices())})"
    if v["quant"] in quantize.SCHEMES:
        reason = quantize.supported(v["quant"], device)
        if reason:
            return reason
    if v["prune_method"] in prune.METHODS:
        return _prune_reason(v["prune_method"], device)
    return None


def short_reason(reason: str) -> str:
    """An option label's suffix: the reason without its 'quant=x ' / 'prune_method=x ' prefix, short."""
    text = reason.split(" ", 1)[1] if reason.split(" ", 1)[0].count("=") == 1 else reason
    text = text.split(";")[0]
    return text if len(text) <= 48 else text[:47] + "…"


def device_label(device: str) -> str:
    """'cpu — AMD EPYC 7B13 (2 cores)', 'cuda:0 — NVIDIA H100 80GB HBM3', 'mps — Apple MPS (arm64)'."""
    if device == "cpu":
        return f"cpu — {hardware.cpu_model()} ({hardware.cpu_count()} cores)"
    return f"{device} — {hardware.device_name(device)}"


def model_label(name: str) -> str:
    spec = registry.get(name)
    return f"{name} ({spec.metric})" if spec.metric != "accuracy" else name


def describe(config: Config) -> str:
    """One line naming a configuration, for status and error messages."""
    parts = [config.model, f"batch {config.batch_size}", config.quant]
    if config.prune_method != "none":
        parts.append(f"{config.prune_method} {config.sparsity:g}")
    if config.finetune_epochs:
        parts.append(f"+{config.finetune_epochs} ep")
    parts.append(config.device + (f"×{config.threads}" if config.device == "cpu" else ""))
    if config.compile:
        parts.append("compiled")
    return " · ".join(parts)
