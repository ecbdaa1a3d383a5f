"""Where the time of a forward pass goes: the top operators by time, with their share.

    prof = profile_config(lab.Config(model="digits-mlp", batch_size=64, threads=1))
    prof.operators[0]        # OperatorTime(name='aten::addmm', calls=4, ms_per_forward=0.84, share=0.96)
    prof.total_ms, prof.wall_ms, prof.coverage
    lab.plots.operator_frame(prof)      # operator, calls, ms_per_forward, share
    lab.plots.operator_bars(prof, ax)   # horizontal bars, shares written on them

torch.profiler does the measuring (it times every operator the dispatcher runs); this module
only adds it up: per forward pass, ranked, as a share of the profiled total. The forward runs
``warmup`` times unprofiled first (the first calls pay allocation, kernel choice and, with
torch.compile, compilation), then ``runs`` times under the profiler, and the wall clock is read
around those same profiled calls, so the two totals can be compared.

Units: times in milliseconds per forward pass; shares are fractions (0-1) of the profiled total.

Operators are ranked by *self* time (time inside the operator, not in the operators it calls):
``aten::linear`` calls ``aten::addmm``, so total (inclusive) times would count the matmul twice
and the shares would add up to more than 1. Self times partition the profiled time, so they add
up to the profiled total.

What the profile does not cover: Python and nn.Module dispatch between operators (the gap
``wall_ms - total_ms``, ``outside_ms``). It is small where the operators are large and large where
they are tiny: on a 2-core machine at one thread, digits-mlp fp32 at batch 64 about 2 % of the wall
time, int8-dynamic at batch 64 about 15 %, int8-dynamic at batch 1 about two thirds. The profiler also adds a little time per operator, so ``wall_ms`` is slightly above the
lab's latency of the same configuration.

On CUDA the operators are ranked by *device* time (the time on the GPU of the kernels each operator
launched itself), ``total_ms`` is the device time of every kernel and copy per forward, and ``wall_ms``
is timed with a synchronize at both ends (the gap is then launch overhead and idle GPU).
Tables and bars of a profile are lab.plots' (lab.measure measures; it draws nothing).
"""
from __future__ import annotations

import dataclasses
import time

import torch

from lab.errors import FieldError
from lab.measure.sync import device_sync

DEFAULT_RUNS = 10
DEFAULT_WARMUP = 3
DEFAULT_TOP = 10
MAX_RUNS = 10_000


@dataclasses.dataclass(frozen=True)
class OperatorTime:
    """One operator's part of a forward pass.

    name:           the operator as torch names it (``aten::addmm``, ``quantized::linear_dynamic``)
    calls:          calls per forward pass (a whole number unless the forwards differed)
    ms_per_forward: its self time per forward pass, in milliseconds
    share:          that time as a fraction (0-1) of the profiled total of every operator
    """

    name: str
    calls: float
    ms_per_forward: float
    share: float


@dataclasses.dataclass(frozen=True)
class OperatorProfile:
    """The top operators of a forward pass by self time, and the totals to read them against.

    operators: the top operators, largest first (ties by name, so the order is stable)
    total_ms:  the profiled total per forward pass: the self times of *every* operator added up (ms)
    wall_ms:   the wall-clock time per forward pass around the same profiled calls (ms)
    runs:      profiled forward passes the figures are averaged over
    threads:   torch intra-op threads they ran with
    device:    where they ran ("cpu", "cuda:0", ...)
    time_kind: "self CPU time" or "self device time" (what ``ms_per_forward`` measures)
    label:     what was profiled, for a plot's title ("" if not given)
    """

    operators: tuple[OperatorTime, ...]
    total_ms: float
    wall_ms: float
    runs: int
    threads: int
    device: str
    time_kind: str
    label: str = ""

    @property
    def top_ms(self) -> float:
        """The listed operators' time per forward pass (ms); ``total_ms - top_ms`` is the rest."""
        return sum(op.ms_per_forward for op in self.operators)

    @property
    def coverage(self) -> float:
        """``total_ms / wall_ms``: how much of the wall time the operators account for (near 1 when
        Python overhead between operators is small). NaN when the wall time is 0."""
        return self.total_ms / self.wall_ms if self.wall_ms > 0 else float("nan")

    @property
    def outside_ms(self) -> float:
        """Wall time per forward not inside any profiled operator (ms): Python, module calls, the
        profiler's own bookkeeping. On CUDA: time the GPU was not running this forward's kernels."""
        return self.wall_ms - self.total_ms


def _check_count(field: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(field, value, f"a whole number from {low} to {high}")
    return value


def _self_time_us(event, on_device: bool) -> float:
    """An aggregated event's self time in microseconds (torch's unit), on the CPU or the device."""
    if not on_device:
        return event.self_cpu_time_total
    # torch 2.4 renamed cuda to device; older versions have only the first name.
    total = getattr(event, "self_device_time_total", None)
    return total if total is not None else getattr(event, "self_cuda_time_total", 0.0)


def profile_operators(model, args, *, threads: int, runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP,
                      device="cpu", top: int = DEFAULT_TOP, label: str = "") -> OperatorProfile:
    """Profile ``model(*args)``: warm up, then ``runs`` forward passes under torch.profiler.

    model, args: the model and its forward's positional arguments, already on ``device``
    threads:     torch intra-op threads to run with (restored afterwards)
    runs:        profiled forward passes (1 to 10000); the figures are per forward, averaged over them
    warmup:      unprofiled forward passes first (0 to 10000)
    device:      where model and args are; on CUDA the operators are ranked by the device time of their kernels
    top:         how many operators to list (1 or more; the totals always cover every operator)

    Runs under torch.inference_mode, as the lab measures a forward pass (no autograd bookkeeping
    in the profile). Times in the result are milliseconds per forward pass.
    Raises ValueError (lab.FieldError), one line naming the field, for a bad runs, warmup, top or threads.
    """
    from lab import hardware  # the lab's one way to set and restore the thread count

    _check_count("runs", runs, 1, MAX_RUNS)
    _check_count("warmup", warmup, 0, MAX_RUNS)
    _check_count("top", top, 1, 1_000_000)
    _check_count("threads", threads, 1, 1_000_000)
    device = torch.device(device)
    on_device = device.type == "cuda"
    sync = device_sync(device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if on_device:
        activities.append(torch.profiler.ProfilerActivity.CUDA)

    with hardware.torch_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            model(*args)
        if sync is not None:
            sync()
        # No shapes, stacks or memory: each adds bookkeeping per operator, which would widen the gap
        # between the operators' times and the wall clock read around them.
        with torch.profiler.profile(activities=activities) as prof:
            start = time.perf_counter()
            for _ in range(runs):
                model(*args)
            if sync is not None:
                sync()  # the queued kernels are part of these forwards' wall time
            wall_s = time.perf_counter() - start

    # The aggregation: torch groups the events by operator name (key_averages); per forward pass,
    # ranking and shares are ours. Times from torch are in microseconds.
    events = prof.key_averages()
    cpu_side = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
    if on_device:
        # An operator's self device time is the time of the kernels it launched itself; the kernels
        # also appear as events of their own (device side), so the total adds up those, once each.
        total_us = sum(_self_time_us(e, True) for e in events if e.device_type != torch.autograd.DeviceType.CPU)
    else:
        total_us = sum(_self_time_us(e, False) for e in cpu_side)
    totals = [(e.key, e.count, _self_time_us(e, on_device)) for e in cpu_side]
    ranked = sorted((t for t in totals if t[2] > 0), key=lambda t: (-t[2], t[0]))[:top]
    operators = tuple(
        OperatorTime(name=name, calls=count // runs if count % runs == 0 else count / runs,
                     ms_per_forward=us / runs / 1e3, share=us / total_us if total_us > 0 else 0.0)
        for name, count, us in ranked)
    return OperatorProfile(operators=operators, total_ms=total_us / runs / 1e3, wall_ms=wall_s / runs * 1e3,
                           runs=runs, threads=threads, device=str(device),
                           time_kind="self device time" if on_device else "self CPU time", label=label)


def profile_config(config, top: int = DEFAULT_TOP, *, runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP,
                   prepared=None) -> OperatorProfile:
    """Profile ``config`` (a lab.Config) as the lab measures it: the model built and transformed
    by lab.prepare (pruned, fine-tuned, quantized, compiled as configured), its input from the
    model's make_input at the config's batch size, cast for the scheme, run at the config's
    threads under torch.inference_mode on the config's device.

    top:      operators to list (1 or more)
    runs:     profiled forward passes (see profile_operators)
    prepared: a lab.prepare.PreparedCache to take the transformed model from (a Bench's or the
              dashboard's); None builds it here
    Times in the result are milliseconds per forward pass.
    """
    from lab import hardware
    from lab.prepare import PreparedCache, to_args  # lazily: lab.prepare imports lab.measure

    _check_count("top", top, 1, 1_000_000)
    _check_count("runs", runs, 1, MAX_RUNS)
    device = torch.device(config.device)
    # Built under the same threads and inference mode as the runner builds it (lab.runner.measure_row).
    with hardware.torch_threads(config.threads), torch.inference_mode():
        group = (prepared or PreparedCache(size=1)).get(config)
        args = to_args(group.spec.make_input(config.batch_size), device, dtype_of=config.quant)
    label = f"{config.model} {config.quant}, batch {config.batch_size}"
    return profile_operators(group.model, args, threads=config.threads, runs=runs, warmup=warmup,
                             device=device, top=top, label=label)
