"""How far a configuration is from the hardware's limit: the roofline.

    c = ceilings("cpu", threads=2, store=store)   # measured once per (environment, device, threads)
    row.update(row_fields(flops_per_sample=row["flops"], batch_size=64, throughput_sps=row["throughput_sps"],
                          bytes_per_batch=batch_bytes(row["model_size_mib"], in_bytes, out_bytes),
                          quant="bf16", ceilings=c, compiled=False))

The ceilings are measured here, not read from a datasheet: a square matrix
multiply per precision (GFLOP/s) and a large copy (GB/s), on this device at
this thread count. The roofline's attainable rate at arithmetic intensity I
(FLOP/byte) is min(peak, I x bandwidth); a configuration left of the ridge
(I x bandwidth < peak) is memory-bound, right of it compute-bound.

Each row is held against the ceiling of the precision its scheme really
computes in (``precision_of``: read from the scheme's registry entry, and
compile-dependent for int8-static) and says which (``roofline_precision``).
Where that precision has no measured ceiling, the row gets no roofline_frac
and a ``roofline_note`` saying why, never another precision's ceiling.
"""
from __future__ import annotations

import math

from lab.numbers import finite
from lab.store import utc_now

# Every precision a scheme may compute in (lab.transforms.quantize.PRECISIONS), all measured by default:
# a row whose precision has no ceiling gets no roofline_frac, so each one the lab can run is measured
# (fp8 included: torch._scaled_mm on GPUs of compute capability 8.9+, and an emulation on recent CPUs).
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "fp8")
_MEASURABLE = PRECISIONS
_CPU_MATMUL, _CUDA_MATMUL = 1024, 8192    # square sizes that are compute-bound on each (n^3 work over n^2 data)
_CPU_COPY_MIB, _CUDA_COPY_MIB = 256, 1024  # far past the last-level cache (CPU) / L2 (GPU): a DRAM/HBM copy
_PROBE = 256                               # first size tried; doubled up to the full size while calls stay short


def _dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.int8,
            "fp8": getattr(torch, "float8_e4m3fn", None)}[precision]


def _matmul(precision: str, n: int, device):
    """A zero-argument callable doing one n x n x n matrix multiply at ``precision``."""
    import torch

    dtype = _dtype(precision)
    if precision == "int8":  # int8 x int8 -> int32, the kernel int8 schemes reach (torch._int_mm)
        a = torch.randint(-64, 64, (n, n), dtype=torch.int8, device=device)
        b = torch.randint(-64, 64, (n, n), dtype=torch.int8, device=device)
        return lambda: torch._int_mm(a, b)
    if precision == "fp8":  # e4m3 x e4m3 -> bf16 through torch._scaled_mm (unit scales; b column-major)
        if dtype is None:
            raise RuntimeError("this torch has no float8_e4m3fn")
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype).t()
        one = torch.ones((), device=device)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    # fp32 on CUDA is what the lab's fp32 rows run: TF32 only if the user switched it on for both.
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return lambda: torch.mm(a, b)


def _seconds(fn, min_run_s: float) -> float:
    """Seconds per call of ``fn`` in its fastest block (torch.utils.benchmark: warm-up, CUDA sync,
    blocks of calls). The fastest, not the median: a ceiling is what the device can do, and on a
    shared machine the slower blocks measure the neighbours."""
    import torch
    from torch.utils.benchmark import Timer

    # Timer runs with 1 thread unless told otherwise; the ceiling is for the threads in use now.
    timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return min(timer.blocked_autorange(min_run_time=min_run_s).times)


def _once(call, device, repeat: int = 3) -> float:
    """Seconds of the fastest of ``repeat`` calls after a first (warm-up) one; synchronised on CUDA."""
    import time

    import torch

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    call()
    sync()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _matmul_gflops(precision: str, device, size: int, min_run_s: float) -> tuple[float, int]:
    """(GFLOP/s, n) of a square n x n matmul at ``precision`` (2 n^3 FLOPs per call), n <= size.
    A precision the device runs slowly (fp16 on most CPUs: a few GFLOP/s) is measured at a smaller
    n, so a slow kernel doesn't stretch the measurement to minutes; its ceiling is low either way."""
    n = min(_PROBE, size)
    call = _matmul(precision, n, device)
    # Double n while a call at twice the size (8x the work) would stay under min_run_s. Each step times
    # the real size (fastest of 3), so one slow call on a busy machine doesn't stop the growth early.
    while n < size and _once(call, device) * 8 <= min_run_s:
        n = min(2 * n, size)
        call = _matmul(precision, n, device)
    return 2 * n**3 / _seconds(call, min_run_s) / 1e9, n


def _copy_gbs(device, copy_mib: float, min_run_s: float) -> float:
    """GB/s (1e9 bytes/s) of dst.copy_(src) over ``copy_mib`` MiB: bytes read + bytes written."""
    import torch

    nbytes = int(copy_mib * 2**20)
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / _seconds(lambda: dst.copy_(src), min_run_s) / 1e9


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text[:160]}"


def measure_ceilings(device: str, precisions=PRECISIONS, *, min_run_s: float = 0.2, size: int | None = None,
                     copy_mib: float | None = None) -> dict:
    """Measure ``device``'s ceilings at the current torch thread count.

    peak_gflops: {precision: GFLOP/s of a square n x n matmul} (n up to 1024 on CPU, 8192 on CUDA, or ``size``)
    bandwidth_gbs: GB/s (1e9 bytes/s) of a large copy, read + written bytes (256 MiB on CPU,
        1 GiB on CUDA, or ``copy_mib``)
    unsupported: {precision: one-line reason} for precisions the device can't multiply
    matmul_n: {precision: n actually used} (smaller than ``size`` for a precision too slow for it)
    About 0.2 s (``min_run_s``) per figure, plus warm-up: a second or two on a CPU.
    """
    import torch

    unknown = [p for p in precisions if p not in _MEASURABLE]
    if unknown:
        raise ValueError(f"precisions={unknown[0]!r} is not allowed: any of {', '.join(_MEASURABLE)}")
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    size = size or (_CUDA_MATMUL if cuda else _CPU_MATMUL)
    copy_mib = copy_mib or (_CUDA_COPY_MIB if cuda else _CPU_COPY_MIB)
    peaks, sizes, unsupported = {}, {}, {}
    with torch.inference_mode():
        for precision in precisions:
            try:
                peaks[precision], sizes[precision] = _matmul_gflops(precision, dev, size, min_run_s)
            except Exception as exc:  # noqa: BLE001 — a kernel this device lacks: say why, measure the rest
                unsupported[precision] = _reason(exc)
        bandwidth = _copy_gbs(dev, copy_mib, min_run_s)
    if cuda:
        torch.cuda.empty_cache()  # give the copy buffers back before the runner measures memory
    return {"device": str(device), "threads": torch.get_num_threads(), "peak_gflops": peaks,
            "bandwidth_gbs": bandwidth, "unsupported": unsupported, "matmul_n": sizes, "copy_mib": copy_mib,
            "measured_at": utc_now()}


_CACHE: dict[tuple, dict] = {}  # (env_id, device, threads) -> ceilings: the runner asks on every row


def clear_cache() -> None:
    """Forget the in-process ceilings (the store keeps its copy)."""
    _CACHE.clear()


def known(device: str, threads: int, *, store=None, env_id: str | None = None) -> bool:
    """Whether ``device``'s ceilings at ``threads`` are at hand (this process or ``store``), i.e. whether
    ``ceilings`` will answer at once instead of measuring for a few seconds."""
    if (env_id, str(device), int(threads)) in _CACHE:
        return True
    stored = store.get_ceilings(env_id, str(device), int(threads)) if store is not None and env_id is not None else None
    return stored is not None and not stored.get("contended")  # a contended one is measured again


def ceilings(device: str, threads: int, *, store=None, env_id: str | None = None, measure=None,
             remeasure: bool = False, meter=None, policy=None) -> dict:
    """``device``'s ceilings at ``threads``: from this process's cache, else ``store``, else measured
    (``measure(device)`` at ``threads`` torch threads) and put in both. ``env_id`` defaults to
    lab.hardware.environment(device)'s, so a new torch or lab version measures again.
    ``remeasure``: measure now and replace what is cached.

    Ceilings taken on a busy machine read low, and every later roofline_frac reads high against
    them (above 1). So the real measurement runs in a contention window (``meter``, default
    lab.measure.contention.CpuContention; ``policy``, default ContentionPolicy()): retried after a
    pause while other processes use the cores, and if still contended kept for this process but
    marked ``contended`` — a stored contended result is never served: the next process measures
    again. With a ``measure`` of its own (tests) there is no contention check unless ``meter`` is given."""
    from lab import hardware

    if env_id is None and store is not None:
        env_id = hardware.environment(device)["env_id"]
    key = (env_id, str(device), int(threads))
    if key in _CACHE and not remeasure:
        return _CACHE[key]
    found = store.get_ceilings(env_id, str(device), int(threads)) if store is not None and not remeasure else None
    if found is not None and found.get("contended"):
        found = None  # measured while others held the cores: not a ceiling of this machine; measure again
    if found is None:
        def measure_once():
            with hardware.torch_threads(int(threads)):
                # Looked up at call time (not a default argument), so a test can replace measure_ceilings.
                return (measure or measure_ceilings)(device)

        found = _checked(measure_once, meter, policy) if measure is None or meter is not None else measure_once()
        if store is not None:
            store.put_ceilings(env_id, str(device), int(threads), found)
    _CACHE[key] = found
    return found


def _checked(measure_once, meter=None, policy=None) -> dict:
    """``measure_once()`` in a contention window, retried while contended (lab.measure.contention);
    the ceilings with the contention fields of a row added (``contended``, ``other_cpu_frac``, ...)."""
    from lab.measure import contention

    meter = meter or contention.CpuContention()

    def attempt():
        with meter.window() as window:
            result = measure_once()
        return result, window.other_cpu_frac

    outcome = contention.run_with_contention(attempt, policy or contention.ContentionPolicy(), method=meter.method)
    return {**outcome.result, **outcome.as_row()}


def precision_of(quant: str, compiled: bool = False) -> str:
    """The ceiling that applies to scheme ``quant``: the precision its matmuls really run in, as its
    registry entry states it (``Scheme.precision(compiled)`` in lab.transforms.quantize; int8-static is
    fp32 in eager mode and int8 under torch.compile). Unknown scheme: ValueError. There is no fallback:
    a precision whose ceiling wasn't measured gives no roofline_frac (see row_fields), never another
    precision's ceiling."""
    from lab.transforms import quantize

    return quantize.get(quant).precision(compiled)


def batch_bytes(model_size_mib, input_bytes, output_bytes) -> int | None:
    """Bytes one batch moves, as the roofline counts them: weights (model_size_mib x 2^20) + the batch's
    input + its output. It leaves out activations and assumes each weight is read once per batch: a lower
    bound on the traffic, so the intensity is an upper bound and 'memory-bound' is a conservative call."""
    parts = [finite(v) for v in (model_size_mib, input_bytes, output_bytes)]
    if any(p is None for p in parts):
        return None
    return int(parts[0] * 2**20 + parts[1] + parts[2])



def row_fields(*, flops_per_sample, batch_size, throughput_sps, bytes_per_batch, quant, ceilings,
               compiled: bool = False) -> dict:
    """The roofline columns of one configuration.

    achieved_gflops = flops_per_sample x throughput_sps / 1e9 (GFLOP/s)
    arithmetic_intensity = flops_per_sample x batch_size / bytes_per_batch (FLOP/byte; see batch_bytes)
    roofline_precision: the ceiling the row is held against, precision_of(quant, compiled)
    peak_gflops: that precision's measured ceiling (GFLOP/s); None when it wasn't measured on this device
    bandwidth_gbs: the measured copy bandwidth (GB/s)
    roofline_frac = achieved / min(peak, intensity x bandwidth): the share of the attainable rate (0-1)
    bound = 'memory' if intensity x bandwidth < peak else 'compute'
    roofline_note: why roofline_frac is None (one line), else None. A precision without a measured
        ceiling (e.g. int8 where torch._int_mm failed) is said so here; it is never compared against
        another precision's ceiling instead.
    A missing or non-finite input leaves what depends on it None.
    """
    flops, batch, rate, nbytes = (finite(v) for v in (flops_per_sample, batch_size, throughput_sps, bytes_per_batch))
    achieved = flops * rate / 1e9 if flops is not None and rate is not None else None
    intensity = flops * batch / nbytes if None not in (flops, batch, nbytes) and nbytes > 0 else None
    precision = precision_of(quant, compiled) if quant is not None else None
    peak = bandwidth = note = None
    if not ceilings:
        note = "no ceilings were measured for this device"
    elif precision is None:
        note = "no quant scheme given, so no precision to hold the row against"
    else:
        peak = finite((ceilings.get("peak_gflops") or {}).get(precision))
        bandwidth = finite(ceilings.get("bandwidth_gbs"))
        if peak is None:
            why = (ceilings.get("unsupported") or {}).get(precision)
            note = (f"no {precision} ceiling measured on this device ({why})" if why
                    else f"no {precision} ceiling measured on this device") + \
                f"; quant={quant} computes in {precision}, and another precision's ceiling would be a wrong roof"
        elif bandwidth is None:
            note = "no memory bandwidth measured on this device"
    frac = bound = None
    if intensity is not None and peak is not None and bandwidth is not None:
        memory_roof = intensity * bandwidth  # GFLOP/s the bandwidth allows at this intensity
        bound = "memory" if memory_roof < peak else "compute"
        attainable = min(peak, memory_roof)
        frac = achieved / attainable if achieved is not None and attainable > 0 else None
    if frac is None and note is None:
        missing = [name for name, v in (("flops_per_sample", flops), ("throughput_sps", rate),
                                        ("bytes_per_batch", nbytes), ("batch_size", batch)) if v is None]
        note = f"no {', '.join(missing)} for this row" if missing else "attainable rate is 0"
    return {"achieved_gflops": achieved, "peak_gflops": peak, "bandwidth_gbs": bandwidth,
            "arithmetic_intensity": intensity, "roofline_frac": frac, "bound": bound,
            "roofline_precision": precision, "roofline_note": note}
