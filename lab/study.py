"""Studies: a TOML file names a grid, its repeats and seeds; ``run`` measures it into the store.

    study = lab.study.load("examples/study.toml")
    manifest = lab.study.run(study)                  # resumes: only missing repeats are measured
    df, manifest = lab.study.load_results(study)     # rows.jsonl + manifest.json, no store needed

A study's results directory (default: beside the file, named after its stem, so
``data/reference/digits.toml`` -> ``data/reference/digits/``) holds
``manifest.json`` (resolved settings, environment, times, row ids),
``rows.jsonl`` (every row, self-contained, shippable) and
``sensitivity-<model>.csv`` when a sensitivity scan is asked for.

Resuming: a configuration counts the rows this environment already holds that
succeeded and serve the study's budget; only the missing repeats are measured.
A configuration whose latest row in this environment *failed* is not measured
again, in this run or on resume, unless ``force``: a deterministic failure (a
scheme the device lacks, out of memory) would otherwise be re-run on every
resume. Its failed row is listed in the manifest. ``force`` re-measures every repeat.
Summaries (median and interval over repeats, the quality budget) are in lab.summary.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Callable

from lab import __version__, hardware, runner
from lab.config import KNOBS, MAX_SEED, Config, grid
from lab.models import registry
from lab.store import Store
from lab.summary import DEFAULT_BASELINE, summarize, within_quality_budget  # noqa: F401 — re-exported

__all__ = ["Study", "Quality", "Sensitivity", "load", "run", "load_results", "load_sensitivity", "summarize",
           "within_quality_budget"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TOP_KEYS = ("name", "description", "device", "repeats", "seeds", "budget", "grid", "quality", "sensitivity")
_GRID_KNOBS = tuple(k for k in KNOBS if k not in ("device", "seed"))  # those two have top-level keys
_BUDGETS = ("default", "quick")
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
    budget: 'default' or 'quick'; results_dir: where run() writes (default: beside the file, its stem).
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

    def __hash__(self) -> int:  # the grid is a dict; the file's bytes identify the study
        return hash((self.path, self.sha256, self.results_dir))

    def configs(self) -> list[Config]:
        """Every configuration, in grid order (the file's knobs nested as written, then device, then seed)."""
        return grid(**self.grid, device=list(self.devices), seed=list(self.seeds))

    @property
    def budget_policy(self) -> "runner.Budget":
        return runner.Budget.quick() if self.budget == "quick" else runner.Budget()

    def resolved(self) -> dict:
        """The settings as run, defaults filled in (the manifest's ``resolved``)."""
        return {"device": list(self.devices), "repeats": self.repeats, "seeds": list(self.seeds),
                "budget": self.budget, "grid": self.grid,
                "quality": dataclasses.asdict(self.quality) if self.quality else None,
                "sensitivity": {"models": list(self.sensitivity.models), "method": self.sensitivity.method,
                                "sparsities": list(self.sensitivity.sparsities)} if self.sensitivity else None}


class _Checker:
    """Raises ValueError as one line: '<file>: <field>=<value> is not allowed: <what is>'."""

    def __init__(self, path):
        self.path = path

    def fail(self, field: str, value, allowed: str):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ValueError(f"{self.path}: {field}={shown} is not allowed: {allowed}") from None

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
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        check.fail("name", name, "a name of letters, digits, '_', '.' and '-' (required)")
    description = doc.get("description", "")
    if not isinstance(description, str):
        check.fail("description", description, "a string")
    devices = []
    for device in check.values("device", doc.get("device", "cpu"), 'e.g. "cpu" or ["cpu", "cuda"]'):
        if not isinstance(device, str):
            check.fail("device", device, "cpu, cuda, cuda:N or mps")
        devices.append(hardware.normalize_device(device))
    repeats = check.whole("repeats", doc.get("repeats", 1), 1, MAX_REPEATS)
    seeds = check.values("seeds", doc.get("seeds", [0]), "whole numbers")
    for seed in seeds:
        check.whole("seeds", seed, 0, MAX_SEED)
    if len(set(seeds)) != len(seeds):
        check.fail("seeds", seeds, "distinct seeds (repeats of one seed: use repeats)")
    budget = doc.get("budget", "default")
    if budget not in _BUDGETS:
        check.fail("budget", budget, " or ".join(repr(b) for b in _BUDGETS))
    knobs = _grid(check, doc.get("grid"))
    study = Study(name=name, path=path, sha256=hashlib.sha256(data).hexdigest(), grid=knobs,
                  description=description, devices=tuple(dict.fromkeys(devices)), repeats=repeats,
                  seeds=tuple(seeds), budget=budget,
                  quality=_quality(check, doc["quality"], knobs) if "quality" in doc else None,
                  sensitivity=_sensitivity_settings(check, doc["sensitivity"]) if "sensitivity" in doc else None,
                  results_dir=Path(results_dir) if results_dir is not None else path.parent / path.stem)
    try:
        study.configs()  # every Config validation error, now, with the file's name
    except (ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0]
        field = message.partition("=")[0]  # Config says "batch_size=0 is not allowed: ..."
        where = {"seed": "seeds", "device": "device"}.get(field, f"grid.{field}" if field in knobs else field)
        raise ValueError(f"{path}: {where}{message[len(field):]}") from None
    if study.quality is not None:
        _check_baseline(check, study.quality, study.configs(), given="baseline" in doc["quality"])
    return study


def _grid(check: _Checker, table) -> dict:
    if table is None or table == {}:
        check.fail("grid", table, 'a [grid] table with at least one knob (required), e.g. model = ["digits-mlp"]')
    if not isinstance(table, dict):
        check.fail("grid", table, 'a [grid] table of knob = [values], e.g. model = ["digits-mlp"]')
    for knob, value in table.items():
        if knob in ("device", "seed"):
            check.fail(f"grid.{knob}", value, f"set it at the top level: {knob}{'s' if knob == 'seed' else ''} = ...")
        if knob not in _GRID_KNOBS:
            check.fail(f"grid.{knob}", value, "a knob: one of " + ", ".join(_GRID_KNOBS))
        if isinstance(value, dict):
            check.fail(f"grid.{knob}", value, "a value or a list of values")
    if "model" not in table:
        check.fail("grid.model", None, 'a list of model names (required), e.g. model = ["digits-mlp"]')
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
        Config(model=knobs["model"][0], **baseline)  # the same checks as any config
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{check.path}: quality.baseline.{str(exc).splitlines()[0]}") from None
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
    table = check.table("sensitivity", table, ("models", "method", "sparsities"))
    names = registry.names()
    models = check.values("sensitivity.models", table.get("models", []), "model names")
    for model in models:
        if model not in names or registry.get(model).evaluate is None:
            check.fail("sensitivity.models", model, "a model with an evaluation: one of " + ", ".join(
                n for n in names if registry.get(n).evaluate is not None))
    method = table.get("method", "unstructured")
    if method not in _SCAN_METHODS:
        check.fail("sensitivity.method", method, " or ".join(_SCAN_METHODS))
    sparsities = check.values("sensitivity.sparsities", table.get("sparsities", list(Sensitivity.sparsities)),
                              "fractions")
    sparsities = [check.number("sensitivity.sparsities", s, 0, 1, high_open=True) for s in sparsities]
    return Sensitivity(models=tuple(models), method=method, sparsities=tuple(sparsities))


MANIFEST = "manifest.json"
ROWS = "rows.jsonl"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    # Beside the target, then rename: a reader (or a kill) never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"out={path.parent} cannot be written ({exc.strerror or exc}); give a writable directory") \
            from None


def _dump_rows(rows: list[dict]) -> str:
    # Sorted keys: diffs cleanly. json writes NaN / Infinity and reads them back.
    return "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)


def _open_store(store) -> Store:
    # A study always stores: without a store there is nothing to resume from.
    return store if isinstance(store, Store) else Store(store)


def run(study: Study | str | os.PathLike, *, store: Store | str | os.PathLike | None = None,
        results_dir: str | os.PathLike | None = None, force: bool = False,
        on_row: Callable[[dict], None] | None = None,
        progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure every configuration x repeat of ``study`` that the store lacks; return the manifest.

    store:       a Store, a path, or None for the lab's store ($LAB_STORE or data/results/lab.sqlite)
    results_dir: where manifest.json, rows.jsonl and sensitivity-<model>.csv go (default study.results_dir)
    force:       measure every repeat again, and retry failed configurations
    on_row:      called with each row as it comes (``from_store`` True for a reused row)
    progress:    progress(done, total) after each repeat slot; total = configurations x repeats

    The manifest is rewritten after each configuration (``complete`` False,
    ``finished_at`` None until the end), so an interrupted sweep says how far it got.
    """
    study = study if isinstance(study, Study) else load(study)
    store = _open_store(store)
    out = Path(results_dir) if results_dir is not None else study.results_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out={out} cannot be created ({exc.strerror or exc}); give a writable directory") from None
    previous = _read_manifest(out)
    budget = study.budget_policy
    configs = study.configs()
    environments = {device: runner._environment(device) for device in study.devices}
    manifest = {
        "study": study.name, "description": study.description, "study_file": str(study.path),
        "study_sha256": study.sha256, "resolved": study.resolved(), "configs": [], "row_ids": [],
        "environment": environments[study.devices[0]], "environments": environments,
        "started_at": _now(), "finished_at": None, "complete": False, "lab_version": __version__,
        "git_sha": hardware.git_sha(), "store": str(store.path), "sensitivity_files": {},
    }
    rows_file = out / ROWS
    _write_atomic(rows_file, "")  # rows are appended per configuration, in the manifest's order
    total, done = len(configs) * study.repeats, 0
    for config in configs:
        entry = {"config_id": config.config_id, "config": config.to_dict(), "row_ids": [], "measured": 0,
                 "reused": 0, "failed": 0}
        manifest["configs"].append(entry)
        try:
            slots = 0
            for row in _repeats(config, study.repeats, budget, store, force, entry):
                slots += 1
                if on_row is not None:
                    on_row(row)
                if progress is not None:
                    progress(done + slots, total)
        finally:  # also when interrupted: the manifest says how far it got
            _finish_config(manifest, entry, store, rows_file, out)
        done += study.repeats
        if slots < study.repeats and progress is not None:  # repeats skipped after a failure
            progress(done, total)
    manifest["sensitivity_files"] = _sensitivity(study, out, force, previous)
    manifest["finished_at"], manifest["complete"] = _now(), True
    _write_atomic(out / MANIFEST, _dumps_manifest(manifest))
    return manifest


def _repeats(config, repeats: int, budget, store: Store, force: bool, entry: dict):
    """Yield the config's rows: stored ones that serve, then new measurements for the missing repeats."""
    env_id = runner._environment(config.device)["env_id"]
    stored = [] if force else store.rows(config_id=config.config_id, env_id=env_id)
    good = [r for r in stored if not r.get("error") and runner._serves(r, budget)][-repeats:]  # newest, id order
    for row in good:
        entry["row_ids"].append(row["id"])
        entry["reused"] += 1
        yield {**row, "from_store": True}
    if len(good) < repeats and stored and stored[-1].get("error"):
        # Its latest attempt failed: not retried without force (see the module docstring).
        entry["row_ids"].append(stored[-1]["id"])
        entry["failed"] += 1
        yield {**stored[-1], "from_store": True}
        return
    for _ in range(repeats - len(good)):
        row = runner.measure(config, budget=budget, store=store)
        entry["row_ids"].append(row["id"])
        entry["measured"] += 1
        entry["failed"] += bool(row.get("error"))
        yield {**row, "from_store": False}
        if row.get("error"):  # the next repeat would fail the same way
            return


def _finish_config(manifest: dict, entry: dict, store: Store, rows_file: Path, out: Path) -> None:
    manifest["row_ids"].extend(entry["row_ids"])
    if entry["row_ids"]:
        by_id = {r["id"]: r for r in store.rows(ids=entry["row_ids"])}
        try:
            with open(rows_file, "a", encoding="utf-8") as f:
                f.write(_dump_rows([by_id[i] for i in entry["row_ids"] if i in by_id]))
        except OSError as exc:
            raise ValueError(f"out={out} cannot be written ({exc.strerror or exc}); give a writable directory") \
                from None
    _write_atomic(out / MANIFEST, _dumps_manifest(manifest))


def _dumps_manifest(manifest: dict) -> str:
    return json.dumps(manifest, sort_keys=True, indent=2, default=str) + "\n"


def _read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _sensitivity(study: Study, out: Path, force: bool, previous: dict | None) -> dict[str, str]:
    """Run each asked-for scan unless its CSV is there from a run with the same settings."""
    if study.sensitivity is None:
        return {}
    same = previous is not None and previous.get("resolved", {}).get("sensitivity") == study.resolved()["sensitivity"]
    files = {}
    for model in study.sensitivity.models:
        path = out / f"sensitivity-{model}.csv"
        if force or not same or not path.exists():
            df = runner.sensitivity_scan(model, sparsities=study.sensitivity.sparsities,
                                         method=study.sensitivity.method)
            _write_atomic(path, df.to_csv(index=False))
        files[model] = path.name
    return files


def _results_dir(study_or_dir) -> tuple[Path, str]:
    """(results directory, the study file to name in a 'run sweep first' message)."""
    if isinstance(study_or_dir, Study):
        return study_or_dir.results_dir, str(study_or_dir.path)
    path = Path(study_or_dir)
    if path.suffix == ".toml":
        return load(path).results_dir, str(path)
    return path, str(path.with_suffix(".toml"))


def load_results(study_or_dir: Study | str | os.PathLike):
    """(DataFrame of the study's rows, manifest dict), read from its results directory.

    One row per measured repeat, in the manifest's order, failed rows included
    (``error`` set); ``repeat`` is the 0-based index of the row within its configuration.
    A study file (.toml) or a Study reads its results_dir; any other path is the directory.
    """
    import pandas as pd

    out, study_file = _results_dir(study_or_dir)
    manifest, rows_path = _read_manifest(out), out / ROWS
    if manifest is None or not rows_path.is_file():
        raise ValueError(f"results={out} holds no study results ({MANIFEST} and {ROWS}); "
                         f"run `python -m lab sweep {study_file}` first")
    rows = []
    with open(rows_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise ValueError(f"results={rows_path} line {number} is not JSON ({exc}); "
                                     f"run `python -m lab sweep {study_file}` again") from None
    repeat = {rid: i for entry in manifest.get("configs", []) for i, rid in enumerate(entry["row_ids"])}
    for row in rows:
        row["repeat"] = repeat.get(row.get("id"))
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["id", "repeat"]
    return pd.DataFrame(rows, columns=columns), manifest


def load_sensitivity(study_or_dir: Study | str | os.PathLike) -> dict:
    """{model: DataFrame(layer, sparsity, accuracy, params)} from the results' sensitivity-<model>.csv files."""
    import pandas as pd

    out, study_file = _results_dir(study_or_dir)
    if not out.is_dir():
        raise ValueError(f"results={out} holds no study results; run `python -m lab sweep {study_file}` first")
    return {path.stem[len("sensitivity-"):]: pd.read_csv(path) for path in sorted(out.glob("sensitivity-*.csv"))}
