"""Why a device can't run a transform: the one rule every registry entry (scheme, pruning method) applies."""
from __future__ import annotations

from typing import Callable

import torch


def device_reason(field: str, name: str, device_types: tuple[str, ...],
                  check: Callable[[torch.device], str | None] | None, device: str | torch.device) -> str | None:
    """The entry's own ``check(device)`` first (e.g. a GPU too old), then its device types; None if it runs.

    field, name: how the entry is named in messages ('quant', 'fp8')."""
    dev = torch.device(device)
    why = check(dev) if check is not None else None
    if why is None and dev.type not in device_types:
        why = f"{field}={name} does not run on {dev.type} (it runs on {', '.join(device_types)})"
    return why
