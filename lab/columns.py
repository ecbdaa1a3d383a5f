"""The one vocabulary: every column a result row may carry, with its unit.

Code, DataFrame columns, CLI flags, widget labels and figure axes use these
names. ``COLUMNS`` is ordered as tables and CSV files show it.
"""
from __future__ import annotations

from lab.config import KNOBS
from lab.data.config import KNOBS as LOADER_KNOBS
from lab.train.config import KNOBS as TRAIN_KNOBS
from lab.numbers import finite  # noqa: F401 — re-exported: derived columns' one 'finite'

COLUMNS: dict[str, str] = {
    # what was measured
    "model": "model name (python -m lab models)",
    "metric": "name of the model's quality metric (the 'accuracy' column holds it)",
    "params": "parameters (count)",
    "nonzero_params": "parameters that are not zero (count)",
    "flops": "floating-point operations per sample (torch.utils.flop_counter; a multiply-add is 2)",
    # the run: the knobs, described where they are declared (lab.config)
    **{name: knob.help + ("; " + "; ".join(f"{k}: {v}" for k, v in knob.meaning.items()) if knob.meaning else "")
       for name, knob in KNOBS.items()},
    # what the transforms touched (coverage)
    "sparsity_reached": "fraction of prunable weights (Linear/Conv, recurrent weight_ih/hh, attention q/k/v) that "
                        "are zero",
    "params_removed_frac": "fraction of the unpruned model's nonzero parameters removed or zeroed by pruning (0-1): "
                           "what pruning reached, whatever the sparsity knob meant for its method",
    "flops_removed_frac": "fraction of the unpruned model's FLOPs per sample removed (0-1; structured pruning)",
    "pruned_by_type": "fraction of each layer type's parameters removed or zeroed, e.g. {'Linear': 0.5, 'GRU': 0.0}",
    "zero_by_type": "fraction of each layer type's weights that are zero after pruning",
    "params_touched_frac": "fraction of the model's parameters (by count, 0-1) in tensors pruning changed (zeroed "
                           "in, or shrunk); empty without pruning",
    "prune_skipped": "what pruning left, by layer type, and why, e.g. {'LayerNorm': 'norms are not pruned: ...'}",
    "prune_coverage_low": "true when the prune method touched under half of the model's parameters "
                          "(params_touched_frac < 0.5): the sparsity label overstates what was done",
    "quant_coverage_low": "true when a quantizing scheme quantized under half of the model's weights "
                          "(quantized_frac < 0.5): the scheme's label overstates what was done",
    "quantized_frac": "fraction of the model's weights (by count) actually quantized (0-1; 0 for float schemes)",
    "quantized_by_type": "fraction of each layer type's weights quantized, e.g. {'Linear': 0.98}",
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
    "peak_mem_mib": "peak memory one forward pass adds over what was resident (activations, workspace) (MiB; "
                    "NaN where it could not be measured)",
    "peak_mem_method": "how: cuda-allocator, vmhwm (Linux high-water mark), rss-sampling, maxrss-growth "
                       "(a lower bound) or unavailable",
    "model_size_mib": "weights as stored by torch.save (MiB)",
    # energy
    "energy_mj_per_sample": "energy per sample (mJ)",
    "power_w": "average power over the energy window (W)",
    "energy_source": "nvml, rapl, estimate, or estimate-cpu-only (a GPU run without NVML: host CPU only, GPU not "
                     "included)",
    "energy_note": "how the energy was obtained and what it assumed",
    "energy_window_s": "length of the energy window (s): the timed calls themselves, extended only while too "
                       "short for the energy source",
    "energy_calls": "calls inside the energy window (count): the timed samples plus energy_extra_calls",
    "energy_extra_calls": "calls added after the timed ones to make the energy window long enough (count)",
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
    "price_source": "where the price came from: table:<instance> (source, date), env:<variable>, or none: <why>",
    "price_note": "why there is no cost (a GPU the price table lacks: set LAB_PRICE_USD_PER_HOUR; or no throughput)",
    # how far from the hardware's limit
    "achieved_gflops": "achieved rate: flops x throughput_sps (GFLOP/s)",
    "peak_gflops": "measured matrix-multiply ceiling this row is held against (roofline_precision) (GFLOP/s)",
    "bandwidth_gbs": "measured memory bandwidth of this device, from a large copy (GB/s)",
    "arithmetic_intensity": "FLOPs per byte moved (weights + input + output of one batch)",
    "roofline_frac": "achieved_gflops / the roofline's attainable rate at this arithmetic intensity (usually 0-1; "
                     "above 1 when the working set stays in cache, beating the DRAM roof)",
    "bound": "compute or memory: which roof limits this configuration at its arithmetic intensity",
    "ceilings_contended": "True when the device's ceilings this row is held against were measured while other "
                          "processes used the cores (they read low, so roofline_frac reads high; measured again "
                          "by the next process)",
    "roofline_precision": "the ceiling the row is held against (the precision its matmuls run in)",
    "roofline_note": "why roofline_frac is empty (that precision's ceiling was not measured here, or an input is missing)",
    # quality
    "accuracy": "the model's quality metric on held-out data (higher is better)",
    "accuracy_note": "where accuracy came from: evaluated for this row, or reused from another row of the same "
                     "transformed model (it does not depend on batch size or threads)",
    "transform_reused": "true when the transformed model was built for an earlier row of the same sweep (same "
                        "model, pruning, fine-tuning, scheme, device and compile) and reused",
    # input pipelines (rows of kind 'loader', lab.data): the loader's knobs, then what was measured
    **{name: knob.help for name, knob in LOADER_KNOBS.items() if name not in KNOBS},
    "kind": "which kind of row: inference (empty in rows stored before kinds), loader, training",
    "loader_sps": "samples per second of the DataLoader alone, iterated for the budget's time after start-up",
    "model_sps": "samples per second of the model step alone on synthetic batches of the same shape (NaN: no model)",
    "pipeline_sps": "samples per second of the real loop: next batch, then the model step (the loader alone "
                    "without a model)",
    "stall_frac": "measured share (0-1) of the loop's time spent waiting inside next(iterator) for the next batch",
    "startup_s": "time from making the loader's iterator to its first batch: worker start-up included (s)",
    "pipeline_startup_s": "the same for the loop with the model (s)",
    "wait_s": "time spent waiting for batches inside the loop's window (s)",
    "window_s": "length of the loop's timed window (s)",
    "batches": "batches taken inside the loop's window (count)",
    "epochs_restarted": "epochs that ended inside the window (each a new iterator: workers start again unless "
                        "persistent)",
    "cpu_util_frac": "CPU time of this process and its loader workers over the loop's window / (window x cpus): "
                     "0-1 of the machine's usable cores",
    "cpu_ms_per_sample": "CPU time of this process and its loader workers per sample in the loop (ms)",
    "cpus": "cores this process may use (its CPU affinity)",
    "dataset_samples": "samples in the dataset the loader iterates (count)",
    "model_input_shape": "the model's input shape per sample, the batches are viewed as",
    "pinned": "true when batches were really in page-locked memory (pin_memory needs an accelerator)",
    "pin_memory_note": "why pin_memory did nothing (no accelerator)",
    # training to a target accuracy (rows of kind 'training', lab.train): its knobs, then what was measured
    **{name: knob.help for name, knob in TRAIN_KNOBS.items() if name not in KNOBS and name not in LOADER_KNOBS},
    "reached": "true when a held-out evaluation reached target_accuracy within time_budget_s and max_epochs",
    "tta_s": "time to accuracy: wall time from the start of training to the end of the first held-out evaluation "
             "at or above the target, evaluations and any EL2N scoring run included (s; NaN: not reached)",
    "eta_j": "energy to accuracy over the same window, from energy_source (J; NaN: not reached)",
    "epochs_to_target": "epochs trained when the target was first reached (count; empty: not reached)",
    "best_accuracy": "highest held-out accuracy of any epoch (0-1)",
    "final_accuracy": "held-out accuracy after the last epoch trained (0-1)",
    "epochs": "epochs trained, each followed by a held-out evaluation (count)",
    "samples_seen": "training samples processed by optimizer steps (count; evaluation and scoring not included)",
    "energy_j": "energy from the start of training to its end, from energy_source (J)",
    "curve": "one point per epoch: epoch, seconds (s), energy_j (J), samples_seen, accuracy (0-1), contended",
    "stopped_by": "why training stopped: target, time_budget, max_epochs or cancelled",
    "n_train": "training examples before data_kept (count)",
    "n_train_kept": "training examples trained on after data_kept (count)",
    "noisy_labels": "training labels replaced by another class: round(label_noise x n_train) (count)",
    "prep_s": "time of the EL2N proxy run and scoring inside tta_s (s; 0 without keep_by el2n)",
    "prep_energy_j": "energy of the EL2N proxy run and scoring inside eta_j (J)",
    "training_version": "version of the training code (lab.train): rows of another version are trained again",
    "wall_s": "wall time of the whole training row: data, model and training (s)",
    # flags
    "contended": "true when other processes used the cores during the measurement (other_cpu_frac above "
                 "the threshold, after the retries): stored, never served as clean",
    "other_cpu_frac": "share of this machine's cores other processes used during the timing and energy windows "
                      "(0-1; empty where it cannot be read)",
    "contention_retries": "times the measurement was repeated after a pause because the machine was busy",
    "energy_inconsistent": "true when the energy per call disagrees with the window's power x the timed latency, "
                           "or implies more power than the source's ceiling",
    "energy_check_note": "what the energy check compared, or 'not checked: ...'",
    "contention_method": "how other processes' CPU use was read: proc-stat, psutil, given or unknown",
    "contention_note": "what the contention check found, in one line",
    "error": "why this configuration failed (empty when it did not)",
    "error_detail": "the exception behind error, in full",
    "budget": "timing budget: default, quick (short windows, interactive) or custom (lab.budget)",
    "seconds": "wall time this row took to measure, transforms included (s); on a training row, the time from "
               "the start of training to its last epoch (s)",
    # identity and environment
    "config_id": "hash of the configuration: its identity in the store",
    "env_id": "hash of the environment fields that decide re-use",
    "measurement_version": "version of the measuring code (lab.version): rows of another version are not reused",
    "model_fingerprint": "hash of the model's structure, weights and evaluation code: a changed model is measured anew",
    "torch_version": "torch version",
    "device_name": "device name (CPU model or GPU name)",
    "cpu_model": "CPU model",
    "node": "the Ray cluster node that measured the row (empty: this machine, no cluster)",
    "node_address": "that node's address in the cluster",
    "node_seconds": "wall time of the measurement on the node (s). seconds minus this is the cluster's overhead only "
                    "for a configuration measured alone (Bench.measure, as benchmarks/cluster.py does): Bench.rows "
                    "queues a round on every node at once, so a row collected later shows seconds near 0 (done while "
                    "an earlier one was collected) or inflated (it waited behind its node's queue)",
    "lab_version": "lab version",
    "git_sha": "lab commit",
    "measured_at": "when the row was measured (UTC, ISO 8601)",
    "from_store": "true when the row came from the store (the reuse rule allowed it), false when measured now",
}

# Axis and table labels, with units, of the training columns (lab.paper.training's figures).
TRAINING_LABELS: dict[str, str] = {
    "tta_s": "time to accuracy (s)", "eta_j": "energy to accuracy (J)", "energy_j": "energy since training began (J)",
    "seconds": "time since training began (s)", "accuracy": "held-out accuracy", "best_accuracy": "best accuracy",
    "samples_seen": "training samples seen", "epochs": "epochs",
    **{name: knob.label for name, knob in TRAIN_KNOBS.items()},
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
