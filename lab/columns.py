"""The one vocabulary: every column a result row may carry, with its unit.

Code, DataFrame columns, CLI flags, widget labels and figure axes use these
names. ``COLUMNS`` is ordered as tables and CSV files show it.
"""
from __future__ import annotations

import math

COLUMNS: dict[str, str] = {
    # what was measured
    "model": "model name (python -m lab models)",
    "metric": "name of the model's quality metric (the 'accuracy' column holds it)",
    "params": "parameters (count)",
    "nonzero_params": "parameters that are not zero (count)",
    "flops": "floating-point operations per sample (torch.utils.flop_counter; a multiply-add is 2)",
    # the run (knobs)
    "batch_size": "samples per forward pass",
    "device": "cpu, cuda:N or mps",
    "threads": "torch intra-op threads during the measurement",
    "quant": "precision / quantization scheme",
    "compile": "torch.compile on (true) or off",
    "prune_method": "pruning method: none, unstructured, unstructured-global, random, random-global, structured, 2:4",
    "sparsity": "target fraction of weights removed (0-1)",
    "finetune_epochs": "epochs of recovery fine-tuning asked for after pruning",
    "width": "width multiplier of the model (1 = the shipped model)",
    "seed": "seed of what is random in the transforms (random pruning, fine-tuning shuffles)",
    "sparsity_reached": "fraction of prunable weights (Linear/Conv) that are zero",
    "sparse_size_mib": "weights as stored with prunable layers in CSR sparse format (MiB)",
    "finetune_epochs_done": "fine-tuning epochs completed",
    "finetune_s": "wall-clock time of recovery fine-tuning (s)",
    "finetune_energy_j": "energy of recovery fine-tuning, from energy_source (J)",
    "accuracy_before_finetune": "quality metric after pruning, before fine-tuning",
    # timing of one batch
    "latency_ms_p50": "median latency of one batch (ms)",
    "latency_ms_p90": "90th percentile latency (ms)",
    "latency_ms_p99": "99th percentile latency (ms)",
    "latency_ms_mean": "mean latency (ms)",
    "latency_ms_iqr": "interquartile range of latency (ms)",
    "latency_ms_min": "fastest batch (ms)",
    "samples": "timed calls behind the latency figures (count)",
    "noisy": "true when latency IQR / median > 0.10",
    "throughput_sps": "samples per second = batch_size / p50",
    "compile_s": "time of the first (compiling) call when compile is on (s)",
    # memory
    "peak_mem_mib": "peak memory one forward pass adds over what was resident (activations, workspace) (MiB)",
    "model_size_mib": "weights as stored by torch.save (MiB)",
    # energy
    "energy_mj_per_sample": "energy per sample (mJ)",
    "power_w": "average power over the energy window (W)",
    "energy_source": "nvml, rapl or estimate",
    "energy_note": "how the energy was obtained and what it assumed",
    "energy_window_s": "length of the energy window (s)",
    "energy_assumption": "what an estimate assumed (W per core and where that came from, or GPU TDP); "
                         "empty for a measured counter",
    "idle_power_w": "idle power measured just before the window and subtracted from it (W); empty: no baseline",
    "energy_short_window": "true when the energy window was under 100x the counter's update interval (quick mode)",
    # carbon and cost, derived from the energy and the throughput
    "co2_g_per_1k": "grams CO2e per 1,000 inferences (samples), from energy_mj_per_sample x carbon_g_per_kwh",
    "carbon_g_per_kwh": "grid carbon intensity used (g CO2e per kWh)",
    "carbon_region": "region of that grid intensity, with the table's source and year (or 'override')",
    "cost_usd_per_1m": "USD per million inferences (samples), from price_usd_per_hour / throughput_sps",
    "price_usd_per_hour": "price of the machine used for cost (USD per hour)",
    "price_instance": "whose price that is (a cloud instance, with the table's date, or 'override')",
    # how far from the hardware's limit
    "achieved_gflops": "achieved rate: flops x throughput_sps (GFLOP/s)",
    "peak_gflops": "measured matrix-multiply ceiling of this device at this precision (GFLOP/s)",
    "bandwidth_gbs": "measured memory bandwidth of this device, from a large copy (GB/s)",
    "arithmetic_intensity": "FLOPs per byte moved (weights + input + output of one batch)",
    "roofline_frac": "achieved_gflops / the roofline's attainable rate at this arithmetic intensity (usually 0-1; "
                     "above 1 when the working set stays in cache, beating the DRAM roof)",
    "bound": "compute or memory: which roof limits this configuration at its arithmetic intensity",
    # quality
    "accuracy": "the model's quality metric on held-out data (higher is better)",
    # flags
    "error": "why this configuration failed (empty when it did not)",
    "budget": "timing budget: default, quick (short windows, interactive) or custom",
    # identity and environment
    "config_id": "hash of the configuration: its identity in the store",
    "env_id": "hash of the environment fields that decide re-use",
    "torch_version": "torch version",
    "device_name": "device name (CPU model or GPU name)",
    "cpu_model": "CPU model",
    "lab_version": "lab version",
    "git_sha": "lab commit",
    "measured_at": "when the row was measured (UTC, ISO 8601)",
}

# The columns a terminal table shows (CSV and JSON carry every column).
TABLE_COLUMNS = ("model", "quant", "prune_method", "sparsity", "finetune_epochs", "batch_size", "threads", "device",
                 "latency_ms_p50", "latency_ms_p99", "throughput_sps", "peak_mem_mib", "energy_mj_per_sample",
                 "energy_source", "co2_g_per_1k", "cost_usd_per_1m", "roofline_frac", "accuracy", "noisy", "error")


def ordered(keys) -> list[str]:
    """Known columns in vocabulary order, then any others in the order given."""
    keys = list(keys)
    known = [c for c in COLUMNS if c in keys]
    return known + [k for k in keys if k not in COLUMNS]


def finite(value) -> float | None:
    """A column's value as a float, or None when it holds no number: missing (None), not a number,
    a bool, NaN or infinite. Derived columns use it so that an error row's missing input gives a
    missing output (None), never a made-up 0."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
