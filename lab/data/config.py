"""What one loader measurement is: a frozen, validated configuration of a DataLoader and the
model step it feeds, each knob declared once (``lab.knobs``), exactly as ``lab.config.Config``.

    >>> LoaderConfig(dataset="mnist1d", num_workers=-1)
    FieldError: num_workers=-1 is not allowed: a whole number from 0 to 64

The CLI flags (``python -m lab data``), the live panel's controls and the labels derive from
``KNOBS``. A config describes; measuring decides (whether a model fits the dataset's samples, or
whether this machine has the device, is answered by an error row when it is measured).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterable

from lab import hardware
from lab.knobs import Knob, check_fields, collect, grid_axes, grid_product, knob
from lab.models import registry

DATASETS = ("digits", "mnist1d")
STORAGES = ("memory", "files", "array")
STEPS = ("inference", "train")
DEVICES = ("cpu", "cuda")
NO_MODEL = "none"
MAX_WORKERS = 64
MAX_BATCH_SIZE = 1 << 16
MAX_PREFETCH = 64
MAX_SAMPLE_COST_MS = 1000.0
MAX_THREADS = 1024
MAX_SEED = 2**31 - 1


def _models() -> tuple[str, ...]:
    return (NO_MODEL, *registry.names())


@dataclasses.dataclass(frozen=True)
class LoaderConfig:
    """One DataLoader set-up and the model step it feeds. Each field is a knob; ``KNOBS`` lists them."""

    dataset: str = knob("mnist1d", kind=str, choices=lambda: DATASETS, label="dataset", table="always",
                        widget="dropdown", help="the samples: sklearn digits (8x8 images) or MNIST-1D "
                                                "(signals of 40 values), offline, training split")
    storage: str = knob("memory", kind=str, choices=lambda: STORAGES, label="where the data lives",
                        table="always", widget="dropdown",
                        help="memory: tensors in RAM; files: one PNG per sample on disk (decoded with Pillow); "
                             "array: one .npy file, memory-mapped (python -m lab.data.generate writes both)")
    num_workers: int = knob(0, kind=int, low=0, high=MAX_WORKERS, label="loader workers (processes)",
                            table="always", widget="toggles",
                            help="DataLoader worker processes (0: samples are made in the main process)")
    batch_size: int = knob(64, kind=int, low=1, high=MAX_BATCH_SIZE, label="batch size (samples)",
                           flag="--batch", aliases=("--batch-size",), table="always", widget="dropdown",
                           help="samples per batch")
    pin_memory: bool = knob(False, kind=bool, label="pinned memory", widget="checkbox",
                            help="page-locked batches for a fast copy to an accelerator (does nothing without one: "
                                 "rows record whether it was in effect, pinned)")
    prefetch_factor: int | None = knob(None, kind=int, low=1, high=MAX_PREFETCH, label="prefetch (batches per worker)",
                                       widget="slider", widget_max=8,
                                       help="batches each worker loads ahead (only with workers; default: "
                                            "torch's, 2)")
    persistent_workers: bool = knob(False, kind=bool, label="persistent workers", widget="checkbox",
                                    help="keep worker processes alive between epochs (only with workers)")
    sample_cost_ms: float = knob(0.0, kind=float, low=0.0, high=MAX_SAMPLE_COST_MS, label="work per sample (ms CPU)",
                                 widget="slider", widget_max=5.0, step=0.1, table="always",
                                 help="CPU time each sample costs on top of its decode and augmentation "
                                      "(ms of real arithmetic, a stand-in for a heavier decode or transform)")
    augment: bool = knob(True, kind=bool, label="augment", widget="checkbox",
                         help="seeded random crop, flip and noise on each sample")
    model: str = knob(NO_MODEL, kind=str, choices=_models, label="model", table="always", widget="dropdown",
                      help="a built-in model the batches feed, or 'none' to measure the loader alone")
    step: str = knob("inference", kind=str, choices=lambda: STEPS, label="model step", widget="dropdown",
                     help="what the model does with each batch: inference (a forward pass) or train (forward, "
                          "loss, backward and an SGD step)")
    device: str = knob("cpu", kind=str, choices=lambda: DEVICES, label="device", grid=False,
                       help="where the model runs (whether this machine has it is decided when measuring)")
    threads: int | None = knob(None, kind=int, low=1, high=MAX_THREADS, label="threads",
                               help="torch intra-op threads of the main process (default: every core); "
                                    "workers run one thread each, as torch sets them")
    seed: int = knob(0, kind=int, low=0, high=MAX_SEED, label="seed", grid=False, series=False,
                     help="seeds the shuffle order and each sample's augmentation")

    def __post_init__(self):
        check_fields(self, KNOBS)
        if self.num_workers == 0 and self.prefetch_factor is not None:
            KNOBS["prefetch_factor"].fail(self.prefetch_factor, "unset (None) when num_workers is 0: prefetching "
                                                                 "needs worker processes")
        if self.num_workers == 0 and self.persistent_workers:
            KNOBS["persistent_workers"].fail(True, "false when num_workers is 0: there are no workers to keep")
        if self.threads is None:  # resolving a default, not a check: the row records what it ran with
            object.__setattr__(self, "threads", hardware.cpu_count())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def config_id(self) -> str:
        """Stable identity in the store: a hash of the canonical JSON of the fields (and of the kind,
        so a loader config never shares an id with an inference config)."""
        canonical = json.dumps({"kind": "loader", **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


KNOBS: dict[str, Knob] = collect(LoaderConfig)


def grid(**knobs) -> list[LoaderConfig]:
    """The cartesian product of knob values, as validated configs: ``grid(num_workers=[0, 1, 2])``.

    prefetch_factor and persistent_workers apply only with workers: in a grid that mixes 0 and
    more workers they are left at their defaults for the points without workers (a grid's
    product would otherwise ask for the impossible point); alone they are refused as usual."""
    axes = grid_axes(knobs, KNOBS)
    mixed = len(set(axes.get("num_workers", [0]))) > 1

    def adjust(point):
        if mixed and point.get("num_workers") == 0:
            point.pop("prefetch_factor", None)
            point.pop("persistent_workers", None)

    return grid_product(axes, LoaderConfig, adjust)


def as_configs(configs: LoaderConfig | Iterable[LoaderConfig]) -> list[LoaderConfig]:
    return [configs] if isinstance(configs, LoaderConfig) else list(configs)
