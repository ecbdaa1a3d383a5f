"""Peak memory of one forward pass, and the size of the weights as stored.

``peak_mem_mib`` is the memory a call needs *on top of* what was resident just
before it (activations, workspace, temporary copies): the weights are already
resident and are reported separately as ``model_size_mib``.

CUDA: max_memory_allocated after a reset, minus memory_allocated before.

CPU: the kernel's high-water mark of resident memory (VmHWM), reset through
/proc/self/clear_refs just before the call, minus the RSS before. A trap:
glibc hands freed heap memory back out without touching the kernel, so a pass
whose buffers fit in memory freed earlier reads as 0. We therefore (only for
the measured call) lower malloc's mmap threshold to 64 KiB — buffers that size
and up then come from fresh pages the kernel counts — and release the heap's
free pages with malloc_trim first. Afterwards the threshold is set to 32 MiB,
glibc's own dynamic ceiling, which is where a long-running torch process ends
up anyway. Where /proc/self/clear_refs cannot be written, RSS is sampled by a
thread instead (coarser: it can miss peaks shorter than the sampling period).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import io
import threading
import time
from typing import Callable

MIB = 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MEASURE_MMAP_THRESHOLD = 64 * 1024
_STEADY_MMAP_THRESHOLD = 32 * MIB   # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
_STEADY_TRIM_THRESHOLD = 64 * MIB   # glibc keeps trim at 2x the dynamic mmap threshold


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def _status_kib(field: str) -> int:
    """A 'VmRSS' / 'VmHWM' line of /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


def cpu_peak_bytes(fn: Callable[[], object], sample_period_s: float = 0.0005) -> int:
    """Peak resident bytes ``fn()`` adds over what was resident before the call (Linux)."""
    # Young generations only: a full collection holds the GIL for hundreds of ms
    # once pandas and matplotlib are loaded, freezing a notebook's main thread.
    gc.collect(1)
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _MEASURE_MMAP_THRESHOLD)
        _LIBC.malloc_trim(0)
    try:
        base_kib = _status_kib("VmRSS")
        if _reset_high_water_mark():
            fn()
            peak_kib = _status_kib("VmHWM")
        else:
            peak_kib = _sampled_peak_kib(fn, sample_period_s)
    finally:
        if _LIBC is not None:
            _LIBC.mallopt(_M_MMAP_THRESHOLD, _STEADY_MMAP_THRESHOLD)
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _STEADY_TRIM_THRESHOLD)
    return max(0, peak_kib - base_kib) * 1024


def _sampled_peak_kib(fn: Callable[[], object], period_s: float) -> int:
    peak = _status_kib("VmRSS")
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _status_kib("VmRSS"))
            time.sleep(period_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(peak, _status_kib("VmRSS"))


def cuda_peak_bytes(fn: Callable[[], object], device) -> int:
    """Peak bytes allocated by torch's CUDA allocator during ``fn()``, over what was allocated before."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - base)


def peak_mib(fn: Callable[[], object], device: str = "cpu") -> float:
    """Peak extra memory of one ``fn()`` call on ``device``, in MiB."""
    if device.startswith("cuda"):
        return cuda_peak_bytes(fn, device) / MIB
    return cpu_peak_bytes(fn) / MIB


def model_size_mib(model) -> float:
    """Size of the model's state_dict as torch.save writes it, in MiB: the weights
    as stored, whatever their format (packed int8, bf16, ...)."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / MIB
