"""One config -> one result row; a grid -> rows, streamed and stored as they come.

    row = lab.measure(Config(model="digits-mlp", batch_size=64))
    df = lab.sweep(lab.grid(model="digits-mlp", batch_size=[1, 64]), on_row=print)

A configuration that fails (out of memory, a scheme this device lacks, a bug in
a user's model) becomes a row with ``error`` set; a sweep goes on.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import time
from typing import Callable, Iterable

import torch
from torch.utils.flop_counter import FlopCounterMode

from lab import costs, hardware, roofline
from lab.config import Config, as_configs
from lab.measure import energy, memory, timing
from lab.models import registry
from lab.store import Store
from lab.transforms import Unsupported, finetune, prune, quantize
from lab.transforms import compile as compile_transform

DEFAULT_STORE = "default"  # sentinel: the store at lab.store.default_path()


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much time a measurement may take.

    timing: warm-up and sampling policy for latency
    energy_window_s: shortest energy window (s); the source's own minimum (100 counter
        updates) applies too, unless ``short_energy_window`` allows less (rows then say so)
    short_energy_window: let the energy window drop below 100 counter updates (interactive use)
    idle_baseline_s: measure idle power for this long before each energy window and subtract
        it (s; 0 = no baseline). The row records the idle power it subtracted.
    """

    timing: timing.TimingPolicy = timing.TimingPolicy()
    energy_window_s: float = 1.0
    short_energy_window: bool = False
    idle_baseline_s: float = 0.0

    def __post_init__(self):
        for name in ("energy_window_s", "idle_baseline_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
                raise ValueError(f"{name}={value!r} is not allowed: a number of seconds from 0 to 3600")

    @classmethod
    def quick(cls) -> "Budget":
        """For interactive use and tests: about a quarter second per configuration."""
        return cls(timing=timing.TimingPolicy.quick(), energy_window_s=0.1, short_energy_window=True)


@functools.lru_cache(maxsize=None)
def _energy_source(device: str) -> energy.EnergySource:
    return energy.choose_source(device)


@functools.lru_cache(maxsize=None)
def _environment(device: str) -> dict:
    return hardware.environment(device)


@functools.lru_cache(maxsize=8)
def _base_model(name: str, width: float = 1.0) -> torch.nn.Module:
    # Weights are loaded and hash-checked once per process; each config gets a deep copy.
    spec = registry.get(name)
    return spec.build() if width == 1.0 else spec.build_width(width)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in message or "out of memory" in message:
        return f"out of memory: {message}"
    if isinstance(exc, Unsupported):
        return f"unsupported: {message}"
    return f"{type(exc).__name__}: {message}"


def _count_flops(model: torch.nn.Module, args: tuple) -> int:
    """FLOPs of one sample's forward pass (a multiply-add counts 2)."""
    one = tuple(t[:1] for t in args)
    counter = FlopCounterMode(display=False)
    # The fused transformer fast path hides its matmuls from the counter.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with counter, torch.no_grad():
            model(*one)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


def _to(x, device=None, dtype_of=None):
    """A model input (tensor or tuple of tensors) as a tuple of forward() args, moved / cast."""
    args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if dtype_of is not None:
        args = tuple(quantize.cast_input(a, dtype_of) for a in args)
    return tuple(a.to(device) for a in args) if device is not None else args


def _transform(row: dict, config: Config, spec: registry.ModelSpec, device: torch.device):
    """The configured model, in the order the transforms need: prune and fine-tune in
    fp32, count what is left, then precision / quantization, then kernels, then compile."""
    model = copy.deepcopy(_base_model(config.model, config.width)).eval().to(device)
    fp32_args = _to(spec.make_input(min(config.batch_size, 8)), device)
    model = prune.prune(model, config.prune_method, config.sparsity, example_input=fp32_args, device=config.device,
                        seed=config.seed)
    if config.finetune_epochs:
        if spec.train_data is None:
            raise Unsupported(f"finetune_epochs needs a training split; model {config.model} has none")
        if spec.evaluate is not None:
            row["accuracy_before_finetune"] = spec.evaluate(model, device, torch.float32)
        source = _energy_source(config.device)
        joules_before = source.read_joules()
        row.update(finetune.finetune(model, spec.train_data(), config.finetune_epochs, device=config.device,
                                     seed=config.seed))
        row["finetune_energy_j"] = source.read_joules() - joules_before
    row.update(prune.sparsity_report(model))
    row["flops"] = _count_flops(model, fp32_args)

    needs_calibration = quantize.get(config.quant).needs_calibration
    calibration = spec.train_data()[0] if needs_calibration and spec.train_data is not None else None
    model = quantize.quantize(model, config.quant, config.device,
                              example_input=_to(fp32_args, dtype_of=config.quant), calibration=calibration)
    row["model_size_mib"] = memory.model_size_mib(model)
    model = prune.accelerate(model, config.prune_method, config.device)
    if config.compile:
        model = compile_transform.compile_model(model)
    return model


def _nbytes(value) -> int:
    """Bytes of the tensors in a model's input or output (tensor, tuple, list, dict or dict-like)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict) or hasattr(value, "values") and callable(value.values):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def _derived(row: dict, config: Config, store: Store | None, output_bytes: int, input_bytes: int) -> None:
    """Carbon and cost (arithmetic on the measured energy and throughput, with the settings used
    recorded beside them), and where the configuration sits under the device's roofline."""
    device_name = _environment(config.device)["device_name"]
    row.update(costs.derive(row, costs.carbon_setting(), costs.price_setting(device_name=device_name)))
    # Measured once per device, threads and environment (a few seconds), then cached in the store.
    ceilings = roofline.ceilings(config.device, config.threads, store=store, env_id=row["env_id"])
    row.update(roofline.row_fields(
        flops_per_sample=row.get("flops"), batch_size=config.batch_size, throughput_sps=row.get("throughput_sps"),
        bytes_per_batch=roofline.batch_bytes(row.get("model_size_mib"), input_bytes, output_bytes),
        quant=config.quant, ceilings=ceilings))


def _measure_into(row: dict, config: Config, budget: Budget, store: Store | None = None) -> None:
    """Build, transform and measure ``config``; fill ``row`` as each figure arrives."""
    spec = registry.get(config.model)
    device = torch.device(config.device)
    row["metric"] = spec.metric
    model = _transform(row, config, spec, device)
    args = _to(spec.make_input(config.batch_size), device, dtype_of=config.quant)

    def forward():
        return model(*args)

    on_cuda = device.type == "cuda"
    sync = functools.partial(torch.cuda.synchronize, device) if on_cuda else None
    start = time.perf_counter()
    output_bytes = _nbytes(forward())  # with compile on, this first call compiles
    if sync:
        sync()
    if config.compile:
        row["compile_s"] = time.perf_counter() - start

    time_one = timing.cuda_event_timer(device) if on_cuda else None
    stats = timing.time_calls(forward, budget.timing, sync=sync, time_one=time_one)
    row.update(stats.as_row())
    row["throughput_sps"] = config.batch_size / (stats.p50 / 1e3) if stats.p50 > 0 else float("inf")
    row["peak_mem_mib"] = memory.peak_mib(forward, config.device)

    source = _energy_source(config.device)
    try:
        reading = energy.measure_energy(forward, source, min_window_s=budget.energy_window_s, sync=sync,
                                        quick=budget.short_energy_window, idle_baseline_s=budget.idle_baseline_s)
    finally:
        source.close()  # a power-sampling source stops its thread between rows (a later read restarts it)
    row["energy_mj_per_sample"] = reading.joules * 1e3 / (reading.calls * config.batch_size)
    row["power_w"] = reading.power_w
    row["energy_source"] = reading.source
    row["energy_note"] = reading.note
    row["energy_assumption"] = reading.assumption
    row["idle_power_w"] = reading.idle_power_w
    row["energy_short_window"] = reading.short_window
    row["energy_window_s"] = reading.seconds
    _derived(row, config, store, output_bytes, _nbytes(args))

    if spec.evaluate is not None:
        row["accuracy"] = spec.evaluate(model, device, quantize.get(config.quant).input_dtype)


def budget_name(budget: Budget) -> str:
    """'default', 'quick' or 'custom': stored on every row, so a quick row is never
    passed off as a full-precision one."""
    return "default" if budget == Budget() else "quick" if budget == Budget.quick() else "custom"


def _serves(cached: dict, budget: Budget) -> bool:
    # A row measured with the full default budget can answer any request; a quick
    # or custom one only a request made with the same budget. An idle-subtracted
    # energy is a different quantity: only a request for one gets one.
    stored = cached.get("budget", "default")
    if (cached.get("idle_power_w") is not None) != (budget.idle_baseline_s > 0):
        return False
    return stored == "default" or stored == budget_name(budget)


def measure(config: Config, *, budget: Budget = Budget(), store: Store | str | None = None) -> dict:
    """Measure one configuration and return its row (see lab.columns for every field).

    Never raises for a failure while measuring: the row's ``error`` says why.
    With ``store``, the row is committed before this returns.
    """
    env = _environment(config.device)
    row = {**config.to_dict(), "config_id": config.config_id, "env_id": env["env_id"],
           "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "budget": budget_name(budget), "error": None}
    store = _open_store(store)
    with hardware.torch_threads(config.threads), torch.inference_mode():
        try:
            _measure_into(row, config, budget, store)
        except Exception as exc:  # noqa: BLE001 — any failure becomes the row's error; the sweep goes on
            row["error"] = _one_line(exc)
    if store is not None:
        row["id"] = store.add(row, env)
    return {**row, **{k: v for k, v in env.items() if k not in row}}


def _open_store(store: Store | str | None) -> Store | None:
    if store is None or isinstance(store, Store):
        return store
    return Store(None if store == DEFAULT_STORE else store)


def sweep(configs: Config | Iterable[Config], *, store: Store | str | None = DEFAULT_STORE, force: bool = False,
          budget: Budget = Budget(), on_row: Callable[[dict], None] | None = None,
          progress: Callable[[int, int], None] | None = None):
    """Measure each configuration in turn and return every row as a pandas DataFrame.

    store:    where rows are committed as they are measured (default: the lab's
              store; a path; or None for no storing)
    force:    re-measure configurations the store already holds for this environment
              (otherwise their stored row is returned, with ``from_store`` True)
    on_row:   called with each row as soon as it is ready (for live plots, CLI output)
    progress: called as progress(done, total) after each row
    """
    import pandas as pd

    configs = as_configs(configs)
    store = _open_store(store)
    rows = []
    for done, config in enumerate(configs, start=1):
        cached = None
        if store is not None and not force:
            cached = store.latest(config.config_id, _environment(config.device)["env_id"])
            cached = cached if cached and _serves(cached, budget) else None
        row = {**cached, "from_store": True} if cached else {**measure(config, budget=budget, store=store),
                                                              "from_store": False}
        rows.append(row)
        if on_row is not None:
            on_row(row)
        if progress is not None:
            progress(done, len(configs))
    return pd.DataFrame(rows)


def sensitivity_scan(model: str, *, sparsities=tuple(i / 10 for i in range(10)), method: str = "unstructured",
                     width: float = 1.0, on_step: Callable[[int, int], None] | None = None):
    """Accuracy against sparsity, one layer pruned at a time, for a registered model
    (DataFrame: layer, sparsity, accuracy, params). See lab.transforms.prune.sensitivity_scan."""
    spec = registry.get(model)
    if spec.evaluate is None:
        raise ValueError(f"model={model!r} is not allowed: the sensitivity scan needs a model with an evaluation")
    cpu = torch.device("cpu")
    with torch.inference_mode():
        return prune.sensitivity_scan(copy.deepcopy(_base_model(model, width)).eval(),
                                      lambda m: spec.evaluate(m, cpu, torch.float32),
                                      sparsities=sparsities, method=method, on_step=on_step)
