"""Wait for a device's queued work: what the timers call before every clock read.

CUDA and MPS run kernels asynchronously — a call returns once its work is
queued — so a wall clock read without a sync times the launch, not the work.
``device_sync(device)`` gives the function to call (or None on CPU, where every
call has finished when it returns, so there is nothing to wait for).

The torch namespace is injectable (``torch_module=``), so tests check the
dispatch with a fake ``mps`` / ``cuda`` that counts calls, on any machine.
"""
from __future__ import annotations

import functools
from typing import Callable

# Device types whose calls return before their work is done and whose torch
# namespace (torch.<type>) has a synchronize(); "cpu" and "meta" need none.
_NO_SYNC = frozenset({"cpu", "meta"})


def device_sync(device, torch_module=None) -> Callable[[], None] | None:
    """A no-argument function that blocks until ``device``'s queued work is done, or None.

    device:       "cpu", "cuda", "cuda:1", "mps", a torch.device, ...
    torch_module: the namespace holding ``cuda`` / ``mps`` (default: torch itself)

    cuda -> torch.cuda.synchronize(device) (that device, whatever the current one);
    mps  -> torch.mps.synchronize (one device per process);
    cpu  -> None. Another accelerator type with a ``torch.<type>.synchronize``
    (e.g. xpu) gets that; one without raises ValueError rather than time
    launches silently.
    """
    if torch_module is None:
        import torch as torch_module
    kind = str(device).partition(":")[0]
    if kind in _NO_SYNC:
        return None
    backend = getattr(torch_module, kind, None)
    synchronize = getattr(backend, "synchronize", None)
    if synchronize is None:
        raise ValueError(f"device={str(device)!r}: torch.{kind}.synchronize does not exist, "
                         "so its latency cannot be timed honestly")
    if kind == "mps":
        return synchronize  # takes no device argument
    return functools.partial(synchronize, str(device))
