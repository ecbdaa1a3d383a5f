"""Training energy to reach an accuracy: ``TrainConfig`` (the knobs), ``train`` (one run to a target,
time- and energy-to-accuracy with its curve), ``TrainBench`` (the path: store, reuse rule, commit).

    from lab.train import TrainBench, TrainConfig, grid
    rows = TrainBench().rows(grid(model="digits-cnn", label_noise=[0, 0.2], seed=[0, 1, 2]))

Modules: config (the knobs, declared once), data (label noise, data kept: seeded, exact counts),
loop (train: TTA / ETA), bench (TrainBench), summary (the spread across seeds), cli
(``python -m lab train``). Names load on first use, so ``from lab.train import config`` (done by
lab.columns) does not import the training loop.
"""
import importlib

_EXPORTS = {"TrainConfig": "config", "KNOBS": "config", "grid": "config", "train": "loop",
            "time_to_accuracy": "loop", "TrainBench": "bench", "TRAINING_VERSION": "bench", "spread": "summary"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lab.train.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lab.train' has no attribute {name!r}")
