"""A study file (TOML): load and validate it into a frozen Study (see lab.study for the format).

``setup = "module:function"`` (or ``"path/to/file.py"``, relative to the study file) runs the
user's code that registers models before anything else is checked. A study naming a model that
is not registered in this process still loads, so its stored results can be read and drawn
(``python -m lab figures`` measures nothing); measuring it (``Study.configs()``, ``run``) refuses
with one line naming ``grid.model``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tomllib
from pathlib import Path

from lab import hardware
from lab.budget import BUDGETS, Budget
from lab.cluster import names as device_names
from lab.config import DEFAULT_BASELINE, GRID_KNOBS, KNOBS, MAX_SEED, Config, grid
from lab.errors import FieldError
from lab.models import registry
from lab.study import training

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TOP_KEYS = ("name", "description", "kind", "setup", "cluster", "device", "repeats", "seeds", "budget", "grid",
             "quality", "sensitivity")
_GRID_KNOBS = GRID_KNOBS  # device and seed have top-level keys
_BUDGETS = tuple(BUDGETS)
MAX_REPEATS = 100
_SCAN_METHODS = ("unstructured", "random")


@dataclasses.dataclass(frozen=True)
class Quality:
    """The quality budget: a row is within it when its metric (the ``accuracy`` column) is at
    most ``max_drop`` below its baseline row's (same knobs, except those ``baseline`` names)."""

    max_drop: float
    baseline: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_BASELINE))


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """A per-layer pruning sensitivity scan (lab.sensitivity_scan) for each model."""

    models: tuple[str, ...]
    method: str = "unstructured"
    sparsities: tuple[float, ...] = tuple(i / 10 for i in range(10))


@dataclasses.dataclass(frozen=True)
class Study:
    """A loaded, validated study file (see the module docstring and examples/study.toml).

    devices: normalized ('cuda' -> 'cuda:0'); grid: knob -> list of values as the file gives them;
    budget: 'default' or 'quick'; results_dir: where run() writes (default: beside the file, its stem);
    setup: the user's model-registering code as the file gives it ("module:function" or a .py path), or None.
    """

    name: str
    path: Path
    sha256: str
    grid: dict
    description: str = ""
    devices: tuple[str, ...] = ("cpu",)
    repeats: int = 1
    seeds: tuple[int, ...] = (0,)
    budget: str = "default"
    quality: Quality | None = None
    sensitivity: Sensitivity | None = None
    results_dir: Path | None = None
    setup: str | None = None
    cluster: str | None = None  # a Ray cluster's address (lab.cluster): devices may be '<node>/<device>' or 'all'
    kind: str = "inference"  # or "training": the grid holds lab.train's knobs (lab.study.training)

    def __hash__(self) -> int:  # the grid is a dict; the file's bytes identify the study
        return hash((self.path, self.sha256, self.results_dir))

    def configs(self, *, join: bool = True) -> list[Config]:
        """Every configuration, in grid order (the file's knobs nested as written, then device, then seed).

        ``device = "all"`` is every device of every node of the study's cluster (``cluster``, else
        $LAB_CLUSTER), joined here; ``join=False`` checks the rest without joining (as "cpu").
        FieldError, one line naming the file and the study's field (``grid.model``, ``seeds``, ...),
        when one is not allowed, e.g. a model not registered in this process."""
        if self.kind == training.KIND:  # no cluster: the devices as written
            make, knobs, devices = training.MAKE, training.FIELD_KNOBS, list(self.devices)
        else:
            make, knobs, devices = grid, _GRID_KNOBS, self._devices(join)
        try:
            return make(**self.grid, device=list(dict.fromkeys(devices)), seed=list(self.seeds))
        except FieldError as exc:
            hint = ""
            if exc.field == "model" and self.setup is None and self.kind != training.KIND:
                hint = ' (your own model: register it with setup = "module:function" in the study file)'
            raise _study_field(exc, knobs, self.path, hint) from None

    def _devices(self, join: bool) -> list[str]:
        """The study's devices, 'all' and '<node>/<device>' joined to the cluster (``join``) or read as "cpu"."""
        devices = list(self.devices)
        if join and any(d == device_names.ALL or device_names.is_node_device(d) for d in devices):
            from lab.cluster import session

            if session.joined() is None:  # --cluster, when given, was joined first and wins
                session.connect(self.cluster)
            return session.parse_devices(devices)
        return [d if d != device_names.ALL else "cpu" for d in devices]

    def check(self) -> None:
        """Everything that needs the registry (configurations, the quality baseline, the sensitivity
        models), in that order; FieldError, one line naming the file and field. ``run`` calls it first."""
        configs = self.configs(join=False)
        if self.kind == training.KIND:
            return
        check = _Checker(self.path)
        if self.quality is not None:
            _check_baseline(check, self.quality, configs, given=self.quality.baseline != dict(DEFAULT_BASELINE))
        if self.sensitivity is not None:
            _check_sensitivity_models(check, self.sensitivity.models)

    @property
    def budget_policy(self) -> Budget:
        return Budget.named(self.budget)

    def resolved(self) -> dict:
        """The settings as run, defaults filled in (the manifest's ``resolved``)."""
        return {"setup": self.setup, **({"cluster": self.cluster} if self.cluster else {}),
                **({"kind": self.kind} if self.kind != "inference" else {}),
                "device": list(self.devices), "repeats": self.repeats, "seeds": list(self.seeds),
                "budget": self.budget, "grid": self.grid,
                "quality": dataclasses.asdict(self.quality) if self.quality else None,
                "sensitivity": {"models": list(self.sensitivity.models), "method": self.sensitivity.method,
                                "sparsities": list(self.sensitivity.sparsities)} if self.sensitivity else None}


def _study_field(exc: FieldError, knobs, path, hint: str = "") -> FieldError:
    """``exc`` (a config's knob) as the study file's field: seed -> seeds, a knob of ``knobs`` -> grid.<knob>;
    the file named and ``hint`` added to what is allowed."""
    name = {"seed": "seeds", "device": "device"}.get(exc.field, f"grid.{exc.field}" if exc.field in knobs
                                                      else exc.field)
    return FieldError(name, exc.value, exc.allowed + hint, where=str(path))


class _Checker:
    """Raises ValueError as one line: '<file>: <field>=<value> is not allowed: <what is>'."""

    def __init__(self, path):
        self.path = path

    def fail(self, field: str, value, allowed: str):
        raise FieldError(field, value, allowed, where=str(self.path)) from None

    def whole(self, field, value, low, high):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(field, value, f"a whole number from {low} to {high}")
        return value

    def number(self, field, value, low, high, high_open=False):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                or (high_open and value == high):
            self.fail(field, value, f"a number from {low} to {high}" + (" (not included)" if high_open else ""))
        return float(value)

    def values(self, field, value, what) -> list:
        """A TOML list, or one value standing for a list of one."""
        values = value if isinstance(value, list) else [value]
        if not values:
            self.fail(field, value, f"at least one value ({what})")
        return values

    def table(self, field, value, keys) -> dict:
        if not isinstance(value, dict):
            self.fail(field, value, "a table: [" + field + "] with " + ", ".join(keys))
        unknown = [k for k in value if k not in keys]
        if unknown:
            self.fail(f"{field}.{unknown[0]}", value[unknown[0]], "a key of [" + field + "]: one of " + ", ".join(keys))
        return value


def _read(path: Path) -> tuple[bytes, dict]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: the study file cannot be read ({exc.strerror or type(exc).__name__}); "
                         "give the path of a readable TOML study file (see examples/study.toml)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the study file is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                         f"{exc.start}); save it as UTF-8 TOML") from None
    try:
        return data, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        if "line" not in message:  # "Invalid value (at end of document)" carries no line number
            message += f" (line {text.count(chr(10)) + 1})"
        raise ValueError(f"{path}: the study file is not valid TOML: {message}") from None


def load(path: str | os.PathLike, *, results_dir: str | os.PathLike | None = None) -> Study:
    """Read and validate a study file. Every problem raises ValueError with ONE line naming
    the file, the field, the value and what is allowed."""
    path = Path(path)
    data, doc = _read(path)
    check = _Checker(path)
    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        check.fail(unknown[0], doc[unknown[0]], "a study key: one of " + ", ".join(_TOP_KEYS))
    setup = _setup(check, doc.get("setup"), path)  # the user's models, before any name is looked up
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        check.fail("name", name, "a name of letters, digits, '_', '.' and '-' (required)")
    description = doc.get("description", "")
    if not isinstance(description, str):
        check.fail("description", description, "a string")
    devices = []
    for device in check.values("device", doc.get("device", "cpu"), 'e.g. "cpu" or ["cpu", "cuda"]'):
        if device != device_names.ALL and not device_names.is_device(device):
            check.fail("device", device, device_names.ALLOWED + ', or "all" (every device of every node)')
        devices.append(hardware.normalize_device(device))
    cluster = doc.get("cluster")
    if cluster is not None and (not isinstance(cluster, str) or not cluster.strip()):
        check.fail("cluster", cluster, 'a Ray cluster address: "auto", "host:port" or "ray://host:port"')
    repeats = check.whole("repeats", doc.get("repeats", 1), 1, MAX_REPEATS)
    seeds = check.values("seeds", doc.get("seeds", [0]), "whole numbers")
    for seed in seeds:
        check.whole("seeds", seed, 0, MAX_SEED)
    if len(set(seeds)) != len(seeds):
        check.fail("seeds", seeds, "distinct seeds (repeats of one seed: use repeats)")
    budget = doc.get("budget", "default")
    if budget not in _BUDGETS:
        check.fail("budget", budget, " or ".join(repr(b) for b in _BUDGETS))
    kind = doc.get("kind", "inference")
    if kind not in training.KINDS:
        check.fail("kind", kind, " or ".join(repr(k) for k in training.KINDS))
    if kind == training.KIND:
        return _training_study(check, doc, path, data, name, description, devices, repeats, seeds, budget,
                               results_dir, setup)
    knobs = _grid(check, doc.get("grid"))
    study = Study(name=name, path=path, sha256=hashlib.sha256(data).hexdigest(), grid=knobs,
                  description=description, devices=tuple(dict.fromkeys(devices)), repeats=repeats,
                  seeds=tuple(seeds), budget=budget,
                  quality=_quality(check, doc["quality"], knobs) if "quality" in doc else None,
                  sensitivity=_sensitivity_settings(check, doc["sensitivity"]) if "sensitivity" in doc else None,
                  results_dir=Path(results_dir) if results_dir is not None else path.parent / path.stem,
                  setup=setup, cluster=cluster)
    unregistered = [m for m in knobs["model"] + list(study.sensitivity.models if study.sensitivity else ())
                    if isinstance(m, str) and m not in registry.names()]
    if unregistered:
        # Readable, not measurable: check what needs no registry now; configs() names the model.
        _check_values(check, knobs)
    else:
        study.check()  # every Config validation error, now, with the file's name
    return study


def _training_study(check, doc, path, data, name, description, devices, repeats, seeds, budget, results_dir,
                    setup) -> Study:
    """A ``kind = "training"`` study (lab.study.training): its grid checked now, every config validated."""
    for section in ("quality", "sensitivity", "cluster"):
        if section in doc:
            check.fail(section, doc[section], 'not part of a training study (kind = "training"): remove it')
    study = Study(name=name, path=path, sha256=hashlib.sha256(data).hexdigest(),
                  grid=_grid(check, doc.get("grid"), **training.GRID), description=description,
                  devices=tuple(dict.fromkeys(devices)), repeats=repeats, seeds=tuple(seeds), budget=budget,
                  results_dir=Path(results_dir) if results_dir is not None else path.parent / path.stem,
                  setup=setup, kind=training.KIND)
    study.check()
    return study


def _setup(check: _Checker, value, path: Path) -> str | None:
    """Run the study's ``setup`` (registering the user's models); its text as given, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        check.fail("setup", value, 'the code that registers your models: "module:function" or "path/to/file.py" '
                                   "(relative to the study file)")
    try:
        registry.import_models(value, base_dir=path.parent, field="setup")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return value


def _check_values(check: _Checker, knobs: dict) -> None:
    """Each grid value on its own (ranges, choices), for a study whose models are not registered here:
    what needs the model (its width knob, the baseline among the configurations) waits for configs()."""
    for knob, values in knobs.items():
        if knob == "model":
            for model in values:
                if not isinstance(model, str) or not model:
                    check.fail("grid.model", model, "model names")
            continue
        for value in values:
            try:
                KNOBS[knob].check(value)
            except FieldError as exc:
                raise exc.within(str(check.path), prefix="grid.") from None


def _grid(check: _Checker, table, knobs=_GRID_KNOBS, example='model = ["digits-mlp"]', noun="knob") -> dict:
    """The [grid] table, each knob a list of values: a knob of ``knobs`` (a training study passes lab.train's,
    lab.study.training.GRID), ``example`` and ``noun`` in the messages; ValueError naming grid.<knob> otherwise."""
    if table is None or table == {}:
        check.fail("grid", table, f"a [grid] table with at least one {noun} (required), e.g. {example}")
    if not isinstance(table, dict):
        check.fail("grid", table, f"a [grid] table of {noun} = [values], e.g. {example}")
    for knob, value in table.items():
        if knob in ("device", "seed"):
            check.fail(f"grid.{knob}", value, f"set it at the top level: {knob}{'s' if knob == 'seed' else ''} = ...")
        if knob not in knobs:
            check.fail(f"grid.{knob}", value, f"a {noun}: one of " + ", ".join(knobs))
        if isinstance(value, dict):
            check.fail(f"grid.{knob}", value, "a value or a list of values")
    if "model" not in table:
        check.fail("grid.model", None, f"a list of model names (required), e.g. {example}")
    return {knob: check.values(f"grid.{knob}", value, "a list of values") for knob, value in table.items()}


def _quality(check: _Checker, table, knobs: dict) -> Quality:
    """The [quality] table; whether the grid holds its baseline is checked once the configs exist."""
    table = check.table("quality", table, ("max_drop", "baseline"))
    if "max_drop" not in table:
        check.fail("quality.max_drop", None, "a number from 0 to 1 (required with [quality])")
    max_drop = check.number("quality.max_drop", table["max_drop"], 0, 1)
    baseline = table.get("baseline")
    if baseline is None:
        return Quality(max_drop=max_drop)
    allowed = tuple(k for k in _GRID_KNOBS if k != "model")
    baseline = dict(check.table("quality.baseline", baseline, allowed))
    if baseline.get("prune_method") == "none":
        baseline.setdefault("sparsity", 0.0)
    try:
        for knob, value in baseline.items():
            KNOBS[knob].check(value)
        if knobs["model"][0] in registry.names():
            Config(model=knobs["model"][0], **baseline)  # and the checks across knobs, as for any config
    except FieldError as exc:
        raise exc.within(str(check.path), prefix="quality.baseline.") from None
    return Quality(max_drop=max_drop, baseline=baseline)


def _same_value(a, b) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)  # true is not 1


def _check_baseline(check: _Checker, quality: Quality, configs: list[Config], given: bool) -> None:
    """Some configuration of the grid must be a baseline, or no row could be within the budget."""
    baseline = quality.baseline
    for knob, value in baseline.items():
        measured = list(dict.fromkeys(getattr(c, knob) for c in configs))
        if not any(_same_value(value, v) for v in measured):
            check.fail(f"quality.baseline.{knob}", value,
                       f"a value the grid measures ({knob}: {', '.join(map(str, measured))})"
                       + ("" if given else "; this is the default baseline: set quality.baseline"))
    if not any(all(_same_value(getattr(c, k), v) for k, v in baseline.items()) for c in configs):
        check.fail("quality.baseline", baseline, "knob values some configuration of the grid has together")


def _sensitivity_settings(check: _Checker, table) -> Sensitivity:
    """The [sensitivity] table; whether its models are registered is checked by Study.check()."""
    table = check.table("sensitivity", table, ("models", "method", "sparsities"))
    models = check.values("sensitivity.models", table.get("models", []), "model names")
    for model in models:
        if not isinstance(model, str) or not model:
            check.fail("sensitivity.models", model, "model names")
    method = table.get("method", "unstructured")
    if method not in _SCAN_METHODS:
        check.fail("sensitivity.method", method, " or ".join(_SCAN_METHODS))
    sparsities = check.values("sensitivity.sparsities", table.get("sparsities", list(Sensitivity.sparsities)),
                              "fractions")
    sparsities = [check.number("sensitivity.sparsities", s, 0, 1, high_open=True) for s in sparsities]
    return Sensitivity(models=tuple(models), method=method, sparsities=tuple(sparsities))


def _check_sensitivity_models(check: _Checker, models) -> None:
    names = registry.names()
    for model in models:
        if model not in names or registry.get(model).evaluate is None:
            check.fail("sensitivity.models", model, "a model with an evaluation: one of " + ", ".join(
                n for n in names if registry.get(n).evaluate is not None))
