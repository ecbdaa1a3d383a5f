"""What one training run is: a frozen, validated ``TrainConfig`` and its identity.

Each training knob is declared once, here, with ``lab.knobs.knob`` exactly as ``lab.config``
declares the inference knobs: the CLI flags (``python -m lab train``), study keys, dashboard
controls, labels and every validation message derive from these declarations.

    >>> TrainConfig(model="digits-cnn", label_noise=1.5)
    FieldError: label_noise=1.5 is not allowed: a number from 0 up to (not including) 1

``lr`` and ``batch_size`` default to the model's shipped recipe (lab.models.train.RECIPES), resolved
when the config is made, so a row records what it trained with.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterable

from lab import hardware
from lab.knobs import Knob, check_fields, collect, grid_axes, grid_product, knob
from lab.models.train import RECIPES

MAX_BATCH_SIZE = 1 << 16
MAX_THREADS = 1024
MAX_EPOCHS = 10_000
MAX_SEED = 2**31 - 1
MAX_TIME_BUDGET_S = 7 * 24 * 3600.0


def trainable_models() -> tuple[str, ...]:
    """The built-in models the lab can train from scratch: those with a recipe (their class and data)."""
    return tuple(RECIPES)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run to a target accuracy. Each field is a knob (``lab.knobs.Knob``); ``KNOBS`` lists them."""

    model: str = knob(kind=str, choices=trainable_models, label="model", table="always", widget="dropdown",
                      help="a built-in model with a training recipe")
    init: str = knob("scratch", kind=str, choices=lambda: ("scratch", "pretrained"), label="initial weights",
                     widget="dropdown", help="scratch: the recipe's random initialization (seeded); "
                                             "pretrained: the shipped weights, fine-tuned")
    batch_size: int | None = knob(None, kind=int, low=1, high=MAX_BATCH_SIZE, label="batch size (samples)",
                                  flag="--batch", aliases=("--batch-size",), table="always", widget="toggles",
                                  help="samples per optimizer step")
    lr: float | None = knob(None, kind=float, low=0.0, high=10.0, label="learning rate", widget="dropdown",
                            allowed_text="a number above 0 up to 10 (e.g. 0.001)",
                            help="Adam's learning rate, constant (default: the model's recipe)")
    precision: str = knob("fp32", kind=str, choices=lambda: ("fp32", "bf16"), label="precision",
                          table="always", widget="dropdown",
                          help="fp32, or bf16 autocast for the forward pass and loss (weights stay fp32)")
    label_noise: float = knob(0.0, kind=float, low=0.0, high=1.0, high_open=True, label="label noise (fraction)",
                              table="always", widget="slider", widget_max=0.8, step=0.1,
                              help="fraction of training labels replaced by a different class, at random (seeded)")
    data_kept: float = knob(1.0, kind=float, low=0.0, high=1.0, label="data kept (fraction)", table="always",
                            widget="slider", step=0.1, allowed_text="a number above 0 up to 1",
                            help="fraction of the training set trained on (chosen by keep_by)")
    keep_by: str = knob("random", kind=str, choices=lambda: ("random", "el2n"), label="kept by",
                        widget="dropdown", help="random: a seeded random subset; el2n: the hardest examples by "
                                                "EL2N score after a short proxy run (Paul et al. 2021)")
    target_accuracy: float = knob(0.95, kind=float, low=0.0, high=1.0, label="target accuracy", series=False,
                                  widget="slider", step=0.01, allowed_text="a number above 0 up to 1",
                                  help="held-out accuracy (0-1) at which time and energy to accuracy are taken")
    time_budget_s: float = knob(60.0, kind=float, low=0.0, high=MAX_TIME_BUDGET_S, label="time budget (s)",
                                series=False, allowed_text=f"a number of seconds above 0 up to {MAX_TIME_BUDGET_S:g}",
                                help="stop (target not reached) after the first epoch that ends past this many seconds")
    max_epochs: int = knob(50, kind=int, low=1, high=MAX_EPOCHS, label="max epochs", series=False,
                           help="stop (target not reached) after this many epochs")
    seed: int = knob(0, kind=int, low=0, high=MAX_SEED, label="seed", grid=False, series=False,
                     help="seeds the initialization, the batch order, the label noise and the kept subset")
    device: str = knob("cpu", kind=str, choices=lambda: ("cpu",), label="device", grid=False,
                       help="where to train (the CPU only, for now)")
    threads: int | None = knob(None, kind=int, low=1, high=MAX_THREADS, label="threads",
                               help="torch intra-op threads (default: every core of this machine)")

    def __post_init__(self):
        check_fields(self, KNOBS)
        # Ranges open at 0, which a Knob's closed range cannot say: checked here, by the same message.
        for name in ("lr", "data_kept", "target_accuracy", "time_budget_s"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                KNOBS[name].fail(getattr(self, name))
        recipe = RECIPES[self.model]
        if self.batch_size is None:  # resolving a default, not a check: the row records what it ran with
            object.__setattr__(self, "batch_size", int(recipe["batch_size"]))
        if self.lr is None:
            object.__setattr__(self, "lr", float(recipe["lr"]))
        if self.threads is None:
            object.__setattr__(self, "threads", hardware.cpu_count())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def config_id(self) -> str:
        """Stable identity in the store: a hash of the canonical JSON of the fields (and of the kind, so a
        training config never shares an id with an inference one)."""
        canonical = json.dumps({"kind": "training", **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


KNOBS: dict[str, Knob] = collect(TrainConfig)
GRID_KNOBS = tuple(k for k, s in KNOBS.items() if s.grid)


def grid(**knobs) -> list[TrainConfig]:
    """The cartesian product of knob values, as validated configs, in the order the lists are nested.

    ``grid(model="digits-cnn", label_noise=[0, 0.2], seed=[0, 1, 2])`` gives six configs. ``keep_by``
    means nothing when all the data is kept: such points become ``random`` (one config, not two).
    """
    axes = grid_axes(knobs, KNOBS, "a training knob")

    def adjust(point):
        if point.get("data_kept", 1.0) == 1.0 and "keep_by" in point:
            point["keep_by"] = "random"

    return grid_product(axes, TrainConfig, adjust)


def as_configs(configs: TrainConfig | Iterable[TrainConfig]) -> list[TrainConfig]:
    return [configs] if isinstance(configs, TrainConfig) else list(configs)
