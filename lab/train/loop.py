"""Train one TrainConfig until its target held-out accuracy: time- and energy-to-accuracy.

Definitions (Zeus, You et al., NSDI 2023): time-to-accuracy ``tta_s`` is the wall time from the start
of training to the end of the first evaluation on the held-out split at or above ``target_accuracy``;
energy-to-accuracy ``eta_j`` is the energy over the same window, from a cumulative counter
(lab.measure.energy_source) read at the start and at every epoch boundary. Counted in both:

- every epoch's evaluation on the held-out split (as Zeus counts validation as part of training: a
  run cannot know it reached the target without it);
- the EL2N proxy run that scores the data when ``keep_by="el2n"`` (choosing the data costs energy
  too; ``prep_s`` / ``prep_energy_j`` say how much of the total it was).

Not counted: loading the data and building the model (identical for every knob setting).

Not counted either: the time and energy of ``on_epoch`` (a live panel draws the curve there). The
training is paused while it runs: the clock and the counter are read again when it returns, and the
difference is subtracted from everything after it. So a live view never costs the run it shows.

The clock and the counter are read exactly once at the start, once after the EL2N proxy run where
there is one, once per epoch boundary (after the evaluation) and, where ``on_epoch`` is given and
training goes on, once when it returns, so a fake clock and a fake counter give exact values in tests. A run stops at the first
boundary where the target is reached, where ``time_budget_s`` has passed (checked at boundaries: a run
overshoots it by less than one epoch), or at ``max_epochs``; then ``reached`` is False, ``tta_s`` and
``eta_j`` are NaN, and ``best_accuracy``, ``seconds`` and ``energy_j`` report the best and the cost so
far. ``should_stop()`` is asked before every optimizer step: a cancelled run returns at once with
``error="cancelled"`` (and lab.train.TrainBench does not store it).

Training itself is lab.models.train.one_epoch (the shipped recipes' step), with Adam at a constant
``lr`` (the recipes' cosine schedule needs the number of epochs, which a run to a target does not know)
and, for ``precision="bf16"``, torch.autocast(device_type="cpu", dtype=torch.bfloat16) around the
forward pass and loss. Evaluation runs in fp32 with the model's own ``evaluate`` (top-1 accuracy).
Each epoch is one contention window (lab.measure.contention): any contended epoch flags the row.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from lab.measure.contention import CpuContention
from lab.measure.energy import choose_source, describe
from lab.measure.energy_source import EnergySource
from lab.models import registry
from lab.models.train import RECIPES, one_epoch, training_mode
from lab.train import data
from lab.train.config import TrainConfig

EL2N_EPOCHS = 2  # "a few epochs" of the proxy run before scoring (Paul et al. score early in training)
CANCELLED = "cancelled"


def time_to_accuracy(curve: list[dict], target: float) -> dict:
    """reached, tta_s, eta_j, epochs_to_target from curve points (each with epoch, seconds, energy_j, accuracy).

    The first point at or above ``target`` gives tta_s, eta_j and its epoch; none: reached False, NaN."""
    for point in curve:
        if point["accuracy"] >= target:
            return {"reached": True, "tta_s": point["seconds"], "eta_j": point["energy_j"],
                    "epochs_to_target": point["epoch"]}
    return {"reached": False, "tta_s": math.nan, "eta_j": math.nan, "epochs_to_target": None}


def _autocast(precision: str):
    if precision == "bf16":
        return lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return None


def _optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr)


def _el2n_keep(config: TrainConfig, x: torch.Tensor, y: torch.Tensor, num_classes: int,
               should_stop) -> np.ndarray:
    """Indices kept by EL2N: a fresh scratch model trained EL2N_EPOCHS epochs on (x, y), then scored."""
    proxy = RECIPES[config.model]["model"]()
    optimizer = _optimizer(proxy, config.lr)
    order = torch.Generator().manual_seed(config.seed + 1)
    proxy.train()
    for _ in range(EL2N_EPOCHS):
        one_epoch(proxy, optimizer, x, y, config.batch_size, order, autocast=_autocast(config.precision),
                  should_stop=should_stop)
    return data.hardest(data.el2n_scores(proxy, x, y, num_classes), config.data_kept)


def train(config: TrainConfig, *, on_epoch: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, clock: Callable[[], float] = time.perf_counter,
          energy_source: EnergySource | None = None, contention: CpuContention | None = None) -> dict:
    """Train ``config`` to its target accuracy; the measured columns of a training row (see the module doc).

    on_epoch(point): each curve point as it is measured: epoch, seconds (s since the start), energy_j
        (J since the start), samples_seen (training samples so far), accuracy (0-1, held-out), contended
    should_stop(): asked before every step; True cancels (the result's error is "cancelled")
    clock: wall seconds; energy_source: a cumulative counter (default choose_source(config.device));
    contention: the meter of other processes' CPU use (default CpuContention()).
    """
    spec = registry.get(config.model)
    own_source = energy_source is None
    source = choose_source(config.device) if own_source else energy_source
    meter = contention or CpuContention()
    stop = should_stop or (lambda: False)
    try:
        with training_mode(config.threads, seed=config.seed):
            # Cloned: data cached under the runner's inference mode cannot be saved for backward.
            x, y_clean = (t.clone() for t in spec.train_data())
            num_classes = int(y_clean.max()) + 1
            y, noisy = data.noisy_labels(y_clean, config.label_noise, config.seed, num_classes)
            model = spec.build() if config.init == "pretrained" else RECIPES[config.model]["model"]()
            optimizer = _optimizer(model, config.lr)
            order = torch.Generator().manual_seed(config.seed)
            result = {"n_train": len(x), "noisy_labels": len(noisy), "energy_source": source.name,
                      "energy_note": describe(source), "energy_assumption": source.assumption}
            windows = []
            start, joules0 = clock(), source.read_joules()
            prep_s = prep_j = 0.0
            if config.data_kept < 1.0 and config.keep_by == "el2n":
                with meter.window() as prep:
                    kept = _el2n_keep(config, x, y, num_classes, stop)
                windows.append(prep)
                prep_s, prep_j = clock() - start, source.read_joules() - joules0
            else:
                kept = data.random_subset(len(x), config.data_kept, config.seed)
            result.update(prep_s=prep_s, prep_energy_j=prep_j)
            x, y = x[torch.from_numpy(kept)], y[torch.from_numpy(kept)]
            result["n_train_kept"] = len(x)
            curve, seen, stopped_by = [], 0, "max_epochs"
            paused_s = paused_j = 0.0  # spent in on_epoch: not training, not counted
            for epoch in range(1, config.max_epochs + 1):
                if stop():
                    stopped_by = CANCELLED
                    break
                with meter.window() as window:
                    model.train()
                    _, count = one_epoch(model, optimizer, x, y, config.batch_size, order,
                                         autocast=_autocast(config.precision), should_stop=stop)
                    seen += count
                    if stop():
                        stopped_by = CANCELLED
                    else:
                        model.eval()
                        accuracy = float(spec.evaluate(model, torch.device(config.device), torch.float32))
                if stopped_by == CANCELLED:
                    break
                windows.append(window)
                read_s, read_j = clock(), source.read_joules()
                now, joules = read_s - start - paused_s, read_j - joules0 - paused_j
                point = {"epoch": epoch, "seconds": now, "energy_j": joules, "samples_seen": seen,
                         "accuracy": accuracy, "contended": window.contended}
                curve.append(point)
                if accuracy >= config.target_accuracy:
                    stopped_by = "target"
                elif now >= config.time_budget_s:
                    stopped_by = "time_budget"
                if on_epoch is not None:
                    on_epoch(dict(point))
                    if stopped_by == "max_epochs" and epoch < config.max_epochs:  # training goes on
                        paused_s += clock() - read_s
                        paused_j += source.read_joules() - read_j
                if stopped_by != "max_epochs":
                    break
    finally:
        if own_source:
            source.close()
    result.update(time_to_accuracy(curve, config.target_accuracy))
    accuracies = [p["accuracy"] for p in curve]
    fracs = [w.other_cpu_frac for w in windows if w.other_cpu_frac is not None]
    result.update({
        "best_accuracy": max(accuracies) if accuracies else math.nan,
        "final_accuracy": accuracies[-1] if accuracies else math.nan,
        "epochs": len(curve), "samples_seen": seen,
        "seconds": curve[-1]["seconds"] if curve else math.nan,
        "energy_j": curve[-1]["energy_j"] if curve else math.nan,
        "stopped_by": stopped_by, "curve": curve,
        "contended": any(w.contended for w in windows),
        "other_cpu_frac": max(fracs) if fracs else None,
        "contention_method": meter.method if fracs else "unknown",
        "contention_note": f"{meter.note}; max over {len(windows)} window(s) (the data choice and each epoch)",
        "error": CANCELLED if stopped_by == CANCELLED else None,
    })
    return result
