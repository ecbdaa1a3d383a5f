"""One config -> the measured columns of one row (transform, measure, derive), nothing else.

    fields = measure_row(config, Budget(), store=None, env=hardware.environment("cpu"))

Reuse, identity, committing and error rows are the path's (lab.bench), which
calls this. Each step returns its own columns; ``measure_row`` merges them, so
what a column depends on reads top to bottom:

1. the transformed model, once per transform group (lab.prepare: build, prune and
   fine-tune in fp32, count what is left, then precision, kernels, compile);
2. ``time_and_energy``: warm-up and timing with the energy read over the timed calls,
   then peak memory, checked for contention by other processes (retried after a pause
   within a bound);
3. ``derived``: carbon, cost and the roofline, from the measured figures;
4. accuracy on held-out data, once per transformed model.
"""
from __future__ import annotations

import time

import torch

from lab import costs, hardware, roofline
from lab.budget import Budget
from lab.config import Config
from lab.errors import Unsupported
from lab.measure import contention, energy, memory, timing
from lab.measure.sync import device_sync
from lab.prepare import PreparedCache, to_args


# Other processes' CPU use during each measurement (one reader per process: it only reads counters).
_CONTENTION = contention.CpuContention()


def one_line(exc: BaseException) -> str:
    """A failure as one line naming its kind: 'out of memory: ...', 'unsupported: ...', 'KeyError: ...'."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in message or "out of memory" in message:
        return f"out of memory: {message}"
    if isinstance(exc, Unsupported):
        return f"unsupported: {message}"
    return f"{type(exc).__name__}: {message}"


def _nbytes(value) -> int:
    """Bytes of the tensors in a model's input or output (tensor, tuple, list, dict or dict-like)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict) or hasattr(value, "values") and callable(value.values):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def time_and_energy(forward, config: Config, budget: Budget, device: torch.device,
                    energy_source: energy.EnergySource) -> tuple[dict, int]:
    """Latency, throughput, energy and peak memory of ``forward()`` (one batch), as columns, and
    the bytes of one call's output.

    Energy is read over the timed calls themselves: the counter is read where the timing
    starts sampling, and the window is extended with more calls only while it is shorter
    than the energy window needs (the budget's, and 100 of the counter's updates) — one run
    of the model, not a second one. Peak memory is read on the second warm-up call (not on the
    first, which pays one-time allocations; not on an extra call after the timing). The windows
    are one contention window: when other
    processes used this machine's cores meanwhile, they are measured again after a pause
    (within the budget's bound); if still contended, the least disturbed attempt is kept and
    flagged."""
    sync = device_sync(device)
    time_one = timing.cuda_event_timer(device) if device.type == "cuda" else None

    def measure_once():
        with _CONTENTION.window() as window:
            try:
                idle_w = None
                if budget.idle_baseline_s > 0:
                    if sync is not None:
                        sync()
                    idle_w = energy.measure_idle_power(energy_source, budget.idle_baseline_s)
                opened, probed = {}, {}

                def memory_probe(fn):  # the second warm-up call: its peak memory and output size
                    outputs = []  # kept: the output's size is the roofline's traffic
                    probed["peak"] = memory.peak(lambda: outputs.append(fn()), config.device)
                    probed["output_bytes"] = _nbytes(outputs[-1])

                stats = timing.time_calls(forward, budget.timing, sync=sync, time_one=time_one, probe=memory_probe,
                                          on_start=lambda: opened.update(t=time.perf_counter(),
                                                                         j=energy_source.read_joules()))
                reading = energy.measure_energy(forward, energy_source, min_window_s=budget.energy_window_s,
                                                sync=sync, quick=budget.short_energy_window,
                                                opened=(opened["t"], opened["j"], stats.n), idle_power_w=idle_w)
            finally:
                energy_source.close()  # a power-sampling source stops its thread between rows
        return (stats, probed["peak"], reading, probed["output_bytes"]), window.other_cpu_frac

    outcome = contention.run_with_contention(measure_once, budget.contention, method=_CONTENTION.method)
    stats, peak, reading, output_bytes = outcome.result
    out = stats.as_row()
    out["throughput_sps"] = config.batch_size / (stats.p50 / 1e3) if stats.p50 > 0 else float("inf")
    out["peak_mem_mib"], out["peak_mem_method"] = peak.mib, peak.method
    out["energy_mj_per_sample"] = reading.joules * 1e3 / (reading.calls * config.batch_size)
    out.update(power_w=reading.power_w, energy_source=reading.source, energy_note=reading.note,
               energy_assumption=reading.assumption, idle_power_w=reading.idle_power_w,
               energy_short_window=reading.short_window, energy_window_s=reading.seconds,
               energy_calls=reading.calls, energy_extra_calls=reading.calls - stats.n)
    out.update(reading.check(stats.mean).as_row())  # energy that disagrees with power x time is flagged
    out.update(outcome.as_row())
    return out, output_bytes


def derived(row: dict, config: Config, *, store, env: dict, input_bytes: int, output_bytes: int) -> dict:
    """Carbon and cost (arithmetic on the measured energy and throughput, with the settings used
    recorded beside them), and where the configuration sits under the device's roofline."""
    price = costs.price_setting(device_name=env.get("device_name"), device=config.device)
    out = dict(costs.derive(row, costs.carbon_setting(), price))
    # Measured once per device, threads and environment (a few seconds), then cached in the store.
    ceilings = roofline.ceilings(config.device, config.threads, store=store, env_id=env["env_id"])
    out["ceilings_contended"] = bool(ceilings.get("contended"))
    out.update(roofline.row_fields(
        flops_per_sample=row.get("flops"), batch_size=config.batch_size, throughput_sps=row.get("throughput_sps"),
        bytes_per_batch=roofline.batch_bytes(row.get("model_size_mib"), input_bytes, output_bytes),
        quant=config.quant, ceilings=ceilings, compiled=config.compile))
    return out


def measure_row(config: Config, budget: Budget, *, store=None, env: dict,
                prepared: PreparedCache | None = None) -> dict:
    """Build and transform ``config``'s model (or take it from ``prepared``: one per transform
    group), measure it at the config's batch size and threads; return the measured columns
    (lab.columns). Raises on failure (the path turns it into the row's ``error``)."""
    device = torch.device(config.device)
    source = energy.choose_source(config.device)
    with hardware.torch_threads(config.threads), torch.inference_mode():
        group = (prepared or PreparedCache(size=1)).get(config, source)
        row: dict = {"metric": group.spec.metric, **group.facts, "transform_reused": group.uses > 1}
        model = group.model
        args = to_args(group.spec.make_input(config.batch_size), device, dtype_of=config.quant)

        def forward():
            return model(*args)

        if config.compile:  # this first call compiles (for this shape): timed apart, never in the latency
            start = time.perf_counter()
            forward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            row["compile_s"] = time.perf_counter() - start
        measured, output_bytes = time_and_energy(forward, config, budget, device, source)
        row.update(measured)
        row.update(derived(row, config, store=store, env=env, input_bytes=_nbytes(args), output_bytes=output_bytes))
        row["accuracy"], row["accuracy_note"] = group.accuracy(config.batch_size)
    return row
