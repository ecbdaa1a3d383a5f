"""What one measurement is: a frozen, validated configuration and its identity.

Each knob is declared once, here, as a field of ``Config`` (``lab.knobs`` is the
machinery): its type, range or choices, default, unit, label and help. The CLI
flags, the study keys, the dashboard controls, plot and table labels and every
validation message are derived from these declarations.

A bad value raises ``FieldError`` (a ValueError) naming the field, the value and
what is allowed::

    >>> Config(model="digits-mlp", batch_size=0)
    FieldError: batch_size=0 is not allowed: a whole number from 1 to 1048576

A config describes; measuring decides. Nothing here asks this machine what it
has: a study naming ``cuda`` loads on a laptop, and whether a config can run is
answered when it is measured (an error row with the reason) and when options are
listed, by the same function (``lab.support.why_not``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterable

from lab import hardware
from lab.cluster import names as device_names
from lab.errors import FieldError
from lab.knobs import Knob, check_fields, collect, grid_axes, grid_product, knob
from lab.models import registry
from lab.transforms.prune import METHODS as _PRUNE_METHODS
from lab.transforms.quantize import SCHEMES as _QUANT_SCHEMES

MAX_BATCH_SIZE = 1 << 20
MAX_THREADS = 1024
MAX_FINETUNE_EPOCHS = 100
MAX_SEED = 2**31 - 1

# What the sparsity knob is a fraction of, per method: each method states it on its registry entry.
_SPARSITY_MEANING = {name: m.sparsity_means for name, m in _PRUNE_METHODS.items() if name != "none" and m.sparsity_means}


@dataclasses.dataclass(frozen=True)
class Config:
    """One point of a sweep. Each field is a knob (``lab.knobs.Knob``); ``KNOBS`` lists them.

    The order of the fields is the order everything shows them: series labels, CLI help,
    dashboard controls, table columns."""

    model: str = knob(kind=str, choices=registry.names, label="model", flag="--model", table="always",
                      widget="dropdown", help="a registered model (python -m lab models)")
    width: float = knob(1.0, kind=float, low=0.25, high=2.0, label="width multiplier", flag="--width", late=True,
                        baseline=True, help="width multiplier for models that have one (1 = the shipped model; "
                                            "other widths are trained on first use, then cached)")
    prune_method: str = knob("none", kind=str, choices=lambda: tuple(_PRUNE_METHODS), label="pruning",
                             flag="--prune", table="always", baseline=True, widget="dropdown",
                             help="pruning method")
    sparsity: float = knob(0.0, kind=float, low=0.0, high=1.0, high_open=True, label="sparsity",
                           flag="--sparsity", table="always", baseline=True, widget="slider", widget_max=0.95,
                           step=0.05, meaning=_SPARSITY_MEANING,
                           help="the pruning method's target fraction (what it is a fraction of depends on the "
                                "method; rows record params_removed_frac)")
    finetune_epochs: int = knob(0, kind=int, low=0, high=MAX_FINETUNE_EPOCHS, label="fine-tune epochs",
                                flag="--finetune-epochs", late=True, baseline=True, widget="slider", widget_max=10,
                                help="epochs of recovery fine-tuning on the training split after pruning")
    quant: str = knob("fp32", kind=str, choices=lambda: tuple(_QUANT_SCHEMES), label="scheme",
                      flag="--quant", table="always", baseline=True, widget="dropdown",
                      help="precision or quantization scheme (python -m lab models --schemes)")
    device: str = knob("cpu", kind=str, label="device", flag="--device", grid=False, widget="dropdown",
                       allowed_text=device_names.ALLOWED,
                       help="where to run: this machine's cpu, cuda:N or mps, or <node>/<device> on a Ray cluster "
                            "node (whether it has it is decided when measuring)")
    threads: int | None = knob(None, kind=int, low=1, high=MAX_THREADS, label="threads", flag="--threads",
                               widget="slider", help="torch intra-op threads (default: every core of this machine)")
    compile: bool = knob(False, kind=bool, label="torch.compile", flag="--compile", widget="checkbox",
                         help="run the model through torch.compile (on/off)")
    batch_size: int = knob(1, kind=int, low=1, high=MAX_BATCH_SIZE, label="batch size (samples)", flag="--batch",
                           aliases=("--batch-size",), table="always", widget="toggles",
                           help="samples per forward pass")
    seed: int = knob(0, kind=int, low=0, high=MAX_SEED, label="seed", flag="--seed", late=True, grid=False,
                     series=False, help="seeds what is random in the transforms (random pruning's mask, "
                                        "fine-tuning's shuffles)")

    def __post_init__(self):
        check_fields(self, KNOBS)
        if not device_names.is_device(self.device):
            KNOBS["device"].fail(self.device)
        object.__setattr__(self, "device", hardware.normalize_device(self.device))
        # Resolving a default, not a check: the row records what it ran with. On a cluster node None
        # stays None ("every core of that node"): this machine's core count says nothing about it.
        if self.threads is None and not device_names.is_node_device(self.device):
            object.__setattr__(self, "threads", hardware.cpu_count())
        if self.prune_method == "none" and self.sparsity != 0.0:
            KNOBS["sparsity"].fail(self.sparsity, "0 when prune_method is 'none' (choose a pruning method)")
        fixed = _PRUNE_METHODS[self.prune_method].fixed_sparsity
        if fixed is not None and self.sparsity != fixed:
            KNOBS["sparsity"].fail(self.sparsity, f"{fixed} for prune_method {self.prune_method!r} (its pattern fixes it)")
        if self.width != 1.0 and registry.get(self.model).build_width is None:
            KNOBS["width"].fail(self.width, f"1.0 for model {self.model!r} (it has no width multiplier)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def config_id(self) -> str:
        """Stable identity in the store: a hash of the canonical JSON of the fields.

        Same fields, same id, in any process on any machine. A knob added in a
        later release (``late``) is left out of the hash while it holds its
        default, so rows stored before it existed still match.
        """
        fields = {k: v for k, v in self.to_dict().items() if not (KNOBS[k].late and v == KNOBS[k].default)}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


KNOBS: dict[str, Knob] = collect(Config)
# Where a knob appears, derived from the declarations above.
GRID_KNOBS = tuple(k for k, s in KNOBS.items() if s.grid)
SERIES_KNOBS = tuple(k for k, s in KNOBS.items() if s.series)
DEFAULT_BASELINE = {k: s.default for k, s in KNOBS.items() if s.baseline}


def implied(values: dict) -> dict:
    """The knob values a choice of pruning method fixes: the one rule, used by grid, the dashboard and its widgets.

    No pruning means sparsity 0 and no recovery fine-tuning; a pattern fixes its sparsity (2:4 -> 0.5).
    Returns {knob: value} for the knobs ``values['prune_method']`` fixes (empty for an unknown method).
    """
    method = _PRUNE_METHODS.get(values.get("prune_method", "none"))
    if method is None:
        return {}
    if method.name == "none":
        return {"sparsity": 0.0, "finetune_epochs": 0}
    if method.fixed_sparsity is not None:
        return {"sparsity": method.fixed_sparsity}
    return {}


def grid(**knobs) -> list[Config]:
    """The cartesian product of knob values, as validated configs.

    Each knob takes one value or a list: ``grid(model="digits-mlp", batch_size=[1, 64],
    quant=["fp32", "bf16"])`` gives four configs, in the order the lists are nested. A pruning
    method that takes a sparsity needs one given: ``prune_method="unstructured"`` alone is refused.
    """
    axes = grid_axes(knobs, KNOBS)
    if "sparsity" not in axes:
        # The knob's default (0) suits no pruning; a method that takes a sparsity would silently prune nothing.
        needs = [m for m in axes.get("prune_method", ()) if m in _PRUNE_METHODS and m != "none"
                 and _PRUNE_METHODS[m].fixed_sparsity is None]
        if needs:
            raise FieldError("sparsity", None, f"required with prune_method {needs[0]!r} (its default, 0, would "
                                               f"prune nothing): {KNOBS['sparsity'].allowed()}, e.g. 0.5")
    mixed = len(axes.get("prune_method", ())) > 1  # alone, `none` + a sparsity is a mistake to report

    def adjust(point):
        # `--prune none,structured --sparsity 0.3,0.5` asks for one baseline and two pruned
        # points, not for the meaningless (none, 0.5); `--finetune-epochs 2` with it fine-tunes
        # the pruned models, not the baseline.
        valid = isinstance(point.get("sparsity", 0.0), (int, float)) and 0 <= point.get("sparsity", 0.0) < 1
        if mixed and valid:
            point.update({k: v for k, v in implied(point).items() if k in point or k == "sparsity"})

    return grid_product(axes, Config, adjust)


def as_configs(configs: Config | Iterable[Config]) -> list[Config]:
    return [configs] if isinstance(configs, Config) else list(configs)
