"""Peak memory of one forward pass, and the size of the weights as stored.

``peak_mem_mib`` is the memory a call needs *on top of* what was resident just
before it (activations, workspace, temporary copies): the weights are already
resident and are reported separately as ``model_size_mib``. ``peak()`` also
says how it was measured (``peak_mem_method``), since the methods differ in
what they can see:

- ``cuda-allocator``: CUDA, max_memory_allocated after a reset, minus
  memory_allocated before. Exact for torch's allocator; blind to other libraries.
- ``vmhwm`` (Linux): the kernel's high-water mark of resident memory (VmHWM),
  reset through /proc/self/clear_refs just before the call, minus the RSS
  before. Exact, whatever allocates.
- ``rss-sampling``: a thread samples the resident set size every 0.5 ms during
  the call. Coarser: it can miss a peak shorter than the period. Used where
  clear_refs cannot be written, and where there is no /proc at all (macOS,
  Windows), reading RSS from psutil if it is importable, else from the OS
  through ctypes (mach task_info on macOS, GetProcessMemoryInfo on Windows).
- ``maxrss-growth``: the last resort where no current-RSS reader works but
  ``resource.getrusage`` exists. ru_maxrss is the process's lifetime peak and
  cannot be reset, so its growth across the call is only a LOWER BOUND on the
  call's extra memory (the call's peak minus the old lifetime peak, not minus
  what was resident before), and NaN when the call did not raise that peak.
- ``unavailable``: nothing works; the figure is NaN, never an exception.
  (On MPS the RSS methods apply: Metal buffers outside the process's resident
  pages are not seen.)

A trap on glibc: freed heap memory is handed back out without touching the
kernel, so a pass whose buffers fit in memory freed earlier reads as 0. We
therefore (only for the measured call) lower malloc's mmap threshold to 64 KiB
— buffers that size and up then come from fresh pages the kernel counts — and
release the heap's free pages with malloc_trim first. Afterwards the threshold
is set to 32 MiB, glibc's own dynamic ceiling, which is where a long-running
torch process ends up anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import io
import math
import sys
import threading
import time
from typing import Callable

MIB = 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MEASURE_MMAP_THRESHOLD = 64 * 1024
_STEADY_MMAP_THRESHOLD = 32 * MIB   # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
_STEADY_TRIM_THRESHOLD = 64 * MIB   # glibc keeps trim at 2x the dynamic mmap threshold
_STATUS_PATH = "/proc/self/status"
_CLEAR_REFS_PATH = "/proc/self/clear_refs"
SAMPLE_PERIOD_S = 0.0005

CUDA_ALLOCATOR, VMHWM, RSS_SAMPLING, MAXRSS_GROWTH, UNAVAILABLE = (
    "cuda-allocator", "vmhwm", "rss-sampling", "maxrss-growth", "unavailable")


@dataclasses.dataclass(frozen=True)
class PeakMemory:
    """Peak extra memory of one call, in MiB (NaN when unknown), and how it was measured
    (one of cuda-allocator, vmhwm, rss-sampling, maxrss-growth, unavailable)."""

    mib: float
    method: str

    def as_row(self) -> dict:
        """The vocabulary's memory columns."""
        return {"peak_mem_mib": self.mib, "peak_mem_method": self.method}


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
    with open(_STATUS_PATH) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in {_STATUS_PATH}")


def _reset_high_water_mark() -> bool:
    try:
        with open(_CLEAR_REFS_PATH, "w") as f:
            f.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


# Current resident set size, in bytes: one reader per platform, tried in order.

def _proc_rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def _psutil_rss_bytes() -> int:
    import psutil  # optional: not a dependency of the lab

    return psutil.Process().memory_info().rss


def _mach_rss_bytes() -> int:
    """macOS: task_info(MACH_TASK_BASIC_INFO).resident_size."""
    if sys.platform != "darwin":
        raise OSError("mach task_info is macOS only")

    class TimeValue(ctypes.Structure):
        _fields_ = [("seconds", ctypes.c_int), ("microseconds", ctypes.c_int)]

    class MachTaskBasicInfo(ctypes.Structure):
        # <mach/task_info.h> declares it under #pragma pack(4); natural alignment gives the
        # same 48 bytes (the 8-byte fields come first), so no _pack_ is needed.
        _fields_ = [("virtual_size", ctypes.c_uint64), ("resident_size", ctypes.c_uint64),
                    ("resident_size_max", ctypes.c_uint64), ("user_time", TimeValue),
                    ("system_time", TimeValue), ("policy", ctypes.c_int), ("suspend_count", ctypes.c_int)]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    task = ctypes.c_uint32.in_dll(libc, "mach_task_self_")  # what the mach_task_self() macro reads
    info = MachTaskBasicInfo()
    count = ctypes.c_uint32(ctypes.sizeof(info) // 4)  # MACH_TASK_BASIC_INFO_COUNT, in natural_t
    if libc.task_info(task, 20, ctypes.byref(info), ctypes.byref(count)) != 0:  # 20: MACH_TASK_BASIC_INFO
        raise OSError("task_info(MACH_TASK_BASIC_INFO) failed")
    return int(info.resident_size)


def _windows_rss_bytes() -> int:
    """Windows: GetProcessMemoryInfo(...).WorkingSetSize."""
    if sys.platform != "win32":
        raise OSError("GetProcessMemoryInfo is Windows only")
    from ctypes import wintypes

    class ProcessMemoryCounters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
            (name, ctypes.c_size_t) for name in (
                "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage", "QuotaPagedPoolUsage",
                "QuotaPeakNonPagedPoolUsage", "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage")]

    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    get_info = kernel32.K32GetProcessMemoryInfo
    get_info.argtypes = [wintypes.HANDLE, ctypes.POINTER(ProcessMemoryCounters), wintypes.DWORD]
    counters = ProcessMemoryCounters()
    counters.cb = ctypes.sizeof(counters)
    if not get_info(kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb):
        raise OSError("GetProcessMemoryInfo failed")
    return int(counters.WorkingSetSize)


_RSS_READERS: tuple[Callable[[], int], ...] = (_proc_rss_bytes, _psutil_rss_bytes, _mach_rss_bytes,
                                               _windows_rss_bytes)


def _rss_reader() -> Callable[[], int] | None:
    """The first reader that works here, or None."""
    for reader in _RSS_READERS:
        try:
            if reader() > 0:
                return reader
        except Exception:  # ImportError, OSError, AttributeError (no such symbol), ValueError
            continue
    return None


def _max_rss_bytes() -> int:
    """ru_maxrss: the process's lifetime peak RSS (KiB on Linux and the BSDs, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_peak(fn: Callable[[], object], sample_period_s: float = SAMPLE_PERIOD_S) -> tuple[int | None, str]:
    """(peak resident bytes ``fn()`` adds over what was resident before the call, or None; method).

    ``fn`` is called exactly once whatever the method, and its exceptions propagate."""
    # Young generations only: a full collection holds the GIL for hundreds of ms
    # once pandas and matplotlib are loaded, freezing a notebook's main thread.
    gc.collect(1)
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _MEASURE_MMAP_THRESHOLD)
        _LIBC.malloc_trim(0)
    try:
        reader = _rss_reader()
        try:
            base = reader() if reader is not None else None
        except Exception:
            base = None
        if base is None:
            return _max_rss_growth(fn)
        if reader is _proc_rss_bytes and _reset_high_water_mark():
            fn()
            try:
                return max(0, _status_kib("VmHWM") * 1024 - base), VMHWM
            except OSError:
                return None, UNAVAILABLE
        peak = _sampled_peak(fn, reader, sample_period_s, base)
        return (None, UNAVAILABLE) if peak is None else (max(0, peak - base), RSS_SAMPLING)
    finally:
        if _LIBC is not None:
            _LIBC.mallopt(_M_MMAP_THRESHOLD, _STEADY_MMAP_THRESHOLD)
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _STEADY_TRIM_THRESHOLD)


def _max_rss_growth(fn: Callable[[], object]) -> tuple[int | None, str]:
    try:
        before = _max_rss_bytes()
    except Exception:  # no resource module (Windows) or no getrusage
        fn()
        return None, UNAVAILABLE
    fn()
    growth = _max_rss_bytes() - before
    return (growth, MAXRSS_GROWTH) if growth > 0 else (None, MAXRSS_GROWTH)


def _sampled_peak(fn: Callable[[], object], reader: Callable[[], int], period_s: float, start: int) -> int | None:
    """Highest of ``start`` and the readings of ``reader`` (bytes) during and just after ``fn()``;
    None if a reading failed."""
    peak = start
    failed = False
    done = threading.Event()

    def sample():
        nonlocal peak, failed
        while not done.is_set():
            try:
                peak = max(peak, reader())
            except Exception:
                failed = True
                return
            time.sleep(period_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    try:
        last = reader()
    except Exception:
        return None
    return None if failed else max(peak, last)


def cuda_peak_bytes(fn: Callable[[], object], device) -> int:
    """Peak bytes allocated by torch's CUDA allocator during ``fn()``, over what was allocated before."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - base)


def peak(fn: Callable[[], object], device="cpu") -> PeakMemory:
    """Peak extra memory of one ``fn()`` call on ``device`` (MiB, NaN if unknown) and the method used.

    Never raises for want of a method; ``fn``'s own exceptions propagate."""
    if str(device).startswith("cuda"):
        return PeakMemory(cuda_peak_bytes(fn, device) / MIB, CUDA_ALLOCATOR)
    extra, method = cpu_peak(fn)
    return PeakMemory(math.nan if extra is None else extra / MIB, method)


def peak_mib(fn: Callable[[], object], device="cpu") -> float:
    """Peak extra memory of one ``fn()`` call on ``device``, in MiB (NaN if unmeasurable here)."""
    return peak(fn, device).mib


def model_size_mib(model) -> float:
    """Size of the model's state_dict as torch.save writes it, in MiB: the weights
    as stored, whatever their format (packed int8, bf16, ...)."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / MIB
