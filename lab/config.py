"""What one measurement is: a frozen, validated configuration and its identity.

Every field is checked on construction; a bad value raises ValueError naming the
field, the value and what is allowed, e.g.::

    >>> Config(model="digits-mlp", batch_size=0)
    ValueError: batch_size=0 is not allowed: a whole number from 1 to 1048576
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from typing import Iterable

from lab import hardware
from lab.models import registry
from lab.transforms.prune import METHODS as _PRUNE_METHODS
from lab.transforms.quantize import SCHEMES as _QUANT_SCHEMES

# The vocabulary of schemes and pruning methods is the transform registries: one list, so a scheme
# added there is a valid config value at once. Whether it runs on a given
# device is decided when the model is transformed (an unsupported pairing is a
# row with an error, not a crash).
QUANT_SCHEMES = tuple(_QUANT_SCHEMES)
PRUNE_METHODS = tuple(_PRUNE_METHODS)
MAX_BATCH_SIZE = 1 << 20
MAX_FINETUNE_EPOCHS = 100
MAX_SEED = 2**31 - 1
WIDTHS = (0.25, 2.0)  # the width multiplier's range, for models that have one
_DEVICE_PATTERN = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _fail(field: str, value, allowed: str):
    raise ValueError(f"{field}={value!r} is not allowed: {allowed}")


@dataclasses.dataclass(frozen=True)
class Config:
    """One point of a sweep.

    model:      a registered model name (``python -m lab models``)
    batch_size: samples per forward pass, 1 .. 2**20
    device:     'cpu', 'cuda', 'cuda:N' or 'mps'; must exist on this machine
    threads:    torch intra-op threads, 1 .. cores available (default: all of them)
    quant:      precision / quantization scheme, one of QUANT_SCHEMES
    compile:    run the model through torch.compile
    prune_method, sparsity: pruning method and target fraction of weights removed (0 <= s < 1)
    finetune_epochs: epochs of recovery fine-tuning on the training split after pruning (0 = none)
    width:      width multiplier for models that have one (0.25 .. 2; 1 = the shipped model)
    seed:       seeds what is random in the transforms (random pruning's mask, fine-tuning's
                shuffling), 0 .. 2**31-1; a study's repeats with other seeds show that spread
    """

    model: str
    batch_size: int = 1
    device: str = "cpu"
    threads: int | None = None
    quant: str = "fp32"
    compile: bool = False
    prune_method: str = "none"
    sparsity: float = 0.0
    finetune_epochs: int = 0
    width: float = 1.0
    seed: int = 0

    def __post_init__(self):
        names = registry.names()
        if not isinstance(self.model, str) or self.model not in names:
            _fail("model", self.model, "one of " + ", ".join(names))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) \
                or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            _fail("batch_size", self.batch_size, f"a whole number from 1 to {MAX_BATCH_SIZE}")
        if not isinstance(self.device, str) or not _DEVICE_PATTERN.match(self.device):
            _fail("device", self.device, "cpu, cuda, cuda:N or mps")
        device = hardware.normalize_device(self.device)
        present = hardware.available_devices()
        if device not in present:
            _fail("device", self.device, "a device this machine has: " + ", ".join(present))
        object.__setattr__(self, "device", device)
        cores = hardware.cpu_count()
        threads = cores if self.threads is None else self.threads
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= cores:
            _fail("threads", self.threads, f"a whole number from 1 to {cores} (cores available)")
        object.__setattr__(self, "threads", threads)
        if self.quant not in QUANT_SCHEMES:
            _fail("quant", self.quant, "one of " + ", ".join(QUANT_SCHEMES))
        if not isinstance(self.compile, bool):
            _fail("compile", self.compile, "true or false")
        if self.prune_method not in PRUNE_METHODS:
            _fail("prune_method", self.prune_method, "one of " + ", ".join(PRUNE_METHODS))
        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)) \
                or not 0.0 <= self.sparsity < 1.0:
            _fail("sparsity", self.sparsity, "a fraction from 0 up to (not including) 1")
        object.__setattr__(self, "sparsity", float(self.sparsity))
        if self.prune_method == "none" and self.sparsity != 0.0:
            _fail("sparsity", self.sparsity, "0 when prune_method is 'none' (choose a pruning method)")
        fixed = _PRUNE_METHODS[self.prune_method].fixed_sparsity
        if fixed is not None and self.sparsity != fixed:
            _fail("sparsity", self.sparsity, f"{fixed} for prune_method {self.prune_method!r} (its pattern fixes it)")
        if isinstance(self.finetune_epochs, bool) or not isinstance(self.finetune_epochs, int) \
                or not 0 <= self.finetune_epochs <= MAX_FINETUNE_EPOCHS:
            _fail("finetune_epochs", self.finetune_epochs, f"a whole number from 0 to {MAX_FINETUNE_EPOCHS}")
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) \
                or not WIDTHS[0] <= self.width <= WIDTHS[1]:
            _fail("width", self.width, f"a multiplier from {WIDTHS[0]} to {WIDTHS[1]}")
        object.__setattr__(self, "width", float(self.width))
        if self.width != 1.0 and registry.get(self.model).build_width is None:
            _fail("width", self.width, f"1.0 for model {self.model!r} (it has no width multiplier)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            _fail("seed", self.seed, f"a whole number from 0 to {MAX_SEED}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def config_id(self) -> str:
        """Stable identity in the store: a hash of the canonical JSON of the fields.

        Same fields, same id, in any process on any machine. A field added in a
        later release is left out of the hash while it holds its default
        (_LATE_DEFAULTS), so rows stored before it existed still match.
        """
        fields = {k: v for k, v in self.to_dict().items() if not (k in _LATE_DEFAULTS and v == _LATE_DEFAULTS[k])}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Fields added after the first release; at their default they are left out of
# config_id so rows stored before still match.
_LATE_DEFAULTS: dict = {"finetune_epochs": 0, "width": 1.0, "seed": 0}

KNOBS = ("model", "batch_size", "device", "threads", "quant", "compile", "prune_method", "sparsity",
         "finetune_epochs", "width", "seed")


def grid(**knobs) -> list[Config]:
    """The cartesian product of knob values, as validated configs.

    Each knob takes one value or a list: ``grid(model="digits-mlp", batch_size=[1, 64],
    quant=["fp32", "bf16"])`` gives four configs, in the order the lists are nested.
    """
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        _fail(sorted(unknown)[0], knobs[sorted(unknown)[0]], "a knob: one of " + ", ".join(KNOBS))
    axes = {}
    for name, value in knobs.items():
        values = list(value) if isinstance(value, (list, tuple, range)) else [value]
        if not values:
            _fail(name, value, "at least one value")
        axes[name] = values
    configs = []
    for combo in itertools.product(*axes.values()):
        point = dict(zip(axes, combo))
        # Sparsity means nothing without a pruning method, and a pattern like 2:4
        # fixes it: `--prune none,structured --sparsity 0.3,0.5` asks for one
        # baseline and two pruned points, not for the meaningless (none, 0.5).
        # Likewise recovery fine-tuning: `--finetune-epochs 2` with `--prune none,structured`
        # fine-tunes the pruned model, not the baseline.
        method = _PRUNE_METHODS.get(point.get("prune_method", "none"))
        mixed = len(axes.get("prune_method", ())) > 1  # alone, `none` + a sparsity is a mistake to report
        valid = isinstance(point.get("sparsity"), (int, float)) and 0 <= point.get("sparsity") < 1
        if method is not None and mixed and valid:
            if method.name == "none":
                point["sparsity"] = 0.0
                if "finetune_epochs" in point:  # recovery after pruning: the baseline stays the shipped model
                    point["finetune_epochs"] = 0
            elif method.fixed_sparsity is not None:
                point["sparsity"] = method.fixed_sparsity
        config = Config(**point)
        if config not in configs:
            configs.append(config)
    return configs


def as_configs(configs: Config | Iterable[Config]) -> list[Config]:
    return [configs] if isinstance(configs, Config) else list(configs)
