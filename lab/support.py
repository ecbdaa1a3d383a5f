"""Whether this machine can run a configuration: one function, asked when measuring and when listing options.

    why_not(config)          # None, or one line: why it can't run here (stored as the row's error)
    option_reasons("cpu")    # {"quant": {"fp8": "...", "fp32": None, ...}, "prune_method": {...}}

A Config only describes (lab.config); the machine is asked here, so a study that
names ``cuda`` loads anywhere and its cuda rows say why they were not measured.
Each scheme and pruning method states its own devices on its registry entry;
this module only asks them.
"""
from __future__ import annotations

from lab import hardware
from lab.transforms import prune, quantize


def device_reason(device: str) -> str | None:
    """Why ``device`` ('cpu', 'cuda:0', 'mps') is not on this machine, or None."""
    present = hardware.available_devices()
    device = hardware.normalize_device(device)
    if device in present:
        return None
    return f"device={device} is not on this machine (it has {', '.join(present)})"


def threads_reason(threads: int | None, device: str) -> str | None:
    """Why ``threads`` can't be used here (more than this machine's cores), or None."""
    cores = hardware.cpu_count()
    if threads is not None and threads > cores:
        return f"threads={threads} is more than the {cores} cores this machine has"
    return None


def why_not(config) -> str | None:
    """Why this machine can't run ``config`` (one line), or None if it can."""
    return (device_reason(config.device) or threads_reason(config.threads, config.device)
            or quantize.supported(config.quant, config.device)
            or prune.supported(config.prune_method, config.device))


def option_reasons(device: str) -> dict[str, dict[str, str | None]]:
    """For each quant scheme and pruning method: why ``device`` can't run it (one line), or None."""
    return {"quant": {name: quantize.supported(name, device) for name in quantize.SCHEMES},
            "prune_method": {name: prune.supported(name, device) for name in prune.METHODS}}
