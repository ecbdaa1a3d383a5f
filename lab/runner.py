"""One config -> the measured columns of one row (transform, measure, derive), nothing else.

    fields = measure_row(config, Budget(), store=None, env=hardware.environment("cpu"))

Reuse, identity, committing and error rows are the path's (lab.bench), which
calls this. Each step returns its own columns; ``measure_row`` merges them, so
what a column depends on reads top to bottom:

1. ``transform``: build, prune and fine-tune in fp32, count what is left (FLOPs,
   coverage), then precision / quantization, kernels, compile;
2. ``time_and_energy``: warm-up and timing, peak memory, energy, each window
   checked for contention by other processes (retried after a pause within a bound);
3. ``derived``: carbon, cost and the roofline, from the measured figures;
4. accuracy on held-out data.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import time

import torch

from lab import costs, hardware, roofline
from lab.budget import Budget
from lab.config import Config
from lab.errors import Unsupported
from lab.measure import contention, energy, memory, timing
from lab.measure.flops import count_flops
from lab.measure.sync import device_sync
from lab.models import registry
from lab.transforms import finetune, prune, quantize
from lab.transforms import compile as compile_transform


# Other processes' CPU use during each measurement (one reader per process: it only reads counters).
_CONTENTION = contention.CpuContention()


@functools.lru_cache(maxsize=8)
def _base_model(spec: registry.ModelSpec, width: float = 1.0) -> torch.nn.Module:
    # Keyed by the spec object, so a model registered again under the same name is built anew.
    # Weights are loaded and hash-checked once per process; each config gets a deep copy.
    return spec.build() if width == 1.0 else spec.build_width(width)


def base_model(name: str, width: float = 1.0) -> torch.nn.Module:
    """The registered model ``name`` as built (shared: deep-copy before changing it)."""
    return _base_model(registry.get(name), width)


@functools.lru_cache(maxsize=32)
def _fingerprint(spec: registry.ModelSpec) -> str:
    digest = hashlib.sha256()
    model = _base_model(spec)
    digest.update(repr(model).encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        if isinstance(tensor, torch.Tensor):
            t = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d buffers (BatchNorm's count) as 1-d
            digest.update(str(t.dtype).encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for fn in (spec.evaluate, spec.make_input):
        code = getattr(fn, "__code__", None)
        if code is not None:
            digest.update(code.co_code)
            digest.update(repr(code.co_consts).encode())
    return digest.hexdigest()[:16]


def model_fingerprint(name: str | None) -> str | None:
    """A hash of the model's structure, weights and evaluation code, or None for an unknown name.

    Part of the reuse rule: a model registered again with other weights or code is measured anew."""
    try:
        spec = registry.get(name)
    except (ValueError, TypeError):
        return None
    return _fingerprint(spec)


def one_line(exc: BaseException) -> str:
    """A failure as one line naming its kind: 'out of memory: ...', 'unsupported: ...', 'KeyError: ...'."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in message or "out of memory" in message:
        return f"out of memory: {message}"
    if isinstance(exc, Unsupported):
        return f"unsupported: {message}"
    return f"{type(exc).__name__}: {message}"


def _to(x, device=None, dtype_of=None):
    """A model input (tensor or tuple of tensors) as a tuple of forward() args, moved / cast."""
    args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if dtype_of is not None:
        args = tuple(quantize.cast_input(a, dtype_of) for a in args)
    return tuple(a.to(device) for a in args) if device is not None else args


def _nbytes(value) -> int:
    """Bytes of the tensors in a model's input or output (tensor, tuple, list, dict or dict-like)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict) or hasattr(value, "values") and callable(value.values):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def transform(config: Config, spec: registry.ModelSpec, device: torch.device,
              energy_source: energy.EnergySource) -> tuple[torch.nn.Module, dict]:
    """The configured model and the columns the transforms decide: prune and fine-tune in fp32,
    count what is left, then precision / quantization, then kernels, then compile."""
    facts: dict = {}
    model = copy.deepcopy(_base_model(spec, config.width)).eval().to(device)
    fp32_args = _to(spec.make_input(min(config.batch_size, 8)), device)
    params_before, flops_before = prune.nonzero_by_type(model), count_flops(model, fp32_args)
    model = prune.prune(model, config.prune_method, config.sparsity, example_input=fp32_args, device=config.device,
                        seed=config.seed)
    if config.finetune_epochs:
        if spec.train_data is None:
            raise Unsupported(f"finetune_epochs needs a training split; model {config.model} has none")
        if spec.evaluate is not None:
            facts["accuracy_before_finetune"] = spec.evaluate(model, device, torch.float32)
        started, joules_before = time.perf_counter(), energy_source.read_joules()
        facts.update(finetune.finetune(model, spec.train_data(), config.finetune_epochs, device=config.device,
                                       seed=config.seed))
        facts["finetune_energy_j"] = energy_source.read_joules() - joules_before
        facts["finetune_s"] = time.perf_counter() - started
    facts.update(prune.sparsity_report(model))
    facts["flops"] = count_flops(model, fp32_args)
    facts.update(prune.coverage(params_before, model, flops_before=flops_before, flops_after=facts["flops"]))

    needs_calibration = quantize.get(config.quant).needs_calibration
    calibration = spec.train_data()[0] if needs_calibration and spec.train_data is not None else None
    model = quantize.quantize(model, config.quant, config.device,
                              example_input=_to(fp32_args, dtype_of=config.quant), calibration=calibration)
    facts.update(quantize.coverage(model))
    model = prune.accelerate(model, config.prune_method, config.device)
    # After the sparse-kernel conversion: 2:4 weights are stored in their compressed form from here on.
    facts["model_size_mib"] = memory.model_size_mib(model)
    if config.compile:
        model = compile_transform.compile_model(model)
    return model, facts


def time_and_energy(forward, config: Config, budget: Budget, device: torch.device,
                    energy_source: energy.EnergySource) -> dict:
    """Latency, throughput, peak memory and energy of ``forward()`` (one batch), as columns.

    The timing, memory and energy windows are one contention window: when other processes
    used this machine's cores meanwhile, all three are measured again after a pause (within
    the budget's bound); if still contended, the least disturbed attempt is kept and flagged."""
    sync = device_sync(device)
    time_one = timing.cuda_event_timer(device) if device.type == "cuda" else None

    def measure_once():
        with _CONTENTION.window() as window:
            stats = timing.time_calls(forward, budget.timing, sync=sync, time_one=time_one)
            peak = memory.peak(forward, config.device)
            try:
                reading = energy.measure_energy(forward, energy_source, min_window_s=budget.energy_window_s,
                                                sync=sync, quick=budget.short_energy_window,
                                                idle_baseline_s=budget.idle_baseline_s)
            finally:
                energy_source.close()  # a power-sampling source stops its thread between rows
        return (stats, peak, reading), window.other_cpu_frac

    outcome = contention.run_with_contention(measure_once, budget.contention, method=_CONTENTION.method)
    stats, peak, reading = outcome.result
    out = stats.as_row()
    out["throughput_sps"] = config.batch_size / (stats.p50 / 1e3) if stats.p50 > 0 else float("inf")
    out["peak_mem_mib"], out["peak_mem_method"] = peak.mib, peak.method
    out["energy_mj_per_sample"] = reading.joules * 1e3 / (reading.calls * config.batch_size)
    out.update(power_w=reading.power_w, energy_source=reading.source, energy_note=reading.note,
               energy_assumption=reading.assumption, idle_power_w=reading.idle_power_w,
               energy_short_window=reading.short_window, energy_window_s=reading.seconds)
    out.update(reading.check(stats.mean).as_row())  # energy that disagrees with power x time is flagged
    out.update(outcome.as_row())
    return out


def derived(row: dict, config: Config, *, store, env: dict, input_bytes: int, output_bytes: int) -> dict:
    """Carbon and cost (arithmetic on the measured energy and throughput, with the settings used
    recorded beside them), and where the configuration sits under the device's roofline."""
    out = dict(costs.derive(row, costs.carbon_setting(), costs.price_setting(device_name=env.get("device_name"), device=config.device)))
    # Measured once per device, threads and environment (a few seconds), then cached in the store.
    ceilings = roofline.ceilings(config.device, config.threads, store=store, env_id=env["env_id"])
    out.update(roofline.row_fields(
        flops_per_sample=row.get("flops"), batch_size=config.batch_size, throughput_sps=row.get("throughput_sps"),
        bytes_per_batch=roofline.batch_bytes(row.get("model_size_mib"), input_bytes, output_bytes),
        quant=config.quant, ceilings=ceilings, compiled=config.compile))
    return out


def measure_row(config: Config, budget: Budget, *, store=None, env: dict) -> dict:
    """Build, transform and measure ``config``; return its measured columns (lab.columns).

    Raises on failure (the path turns it into the row's ``error``)."""
    spec = registry.get(config.model)
    device = torch.device(config.device)
    source = energy.choose_source(config.device)
    row: dict = {"metric": spec.metric}
    with hardware.torch_threads(config.threads), torch.inference_mode():
        model, facts = transform(config, spec, device, source)
        row.update(facts)
        args = _to(spec.make_input(config.batch_size), device, dtype_of=config.quant)

        def forward():
            return model(*args)

        start = time.perf_counter()
        output_bytes = _nbytes(forward())  # with compile on, this first call compiles
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if config.compile:
            row["compile_s"] = time.perf_counter() - start
        row.update(time_and_energy(forward, config, budget, device, source))
        row.update(derived(row, config, store=store, env=env, input_bytes=_nbytes(args), output_bytes=output_bytes))
        if spec.evaluate is not None:
            row["accuracy"] = spec.evaluate(model, device, quantize.get(config.quant).input_dtype)
    return row
