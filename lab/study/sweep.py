"""Measuring a study into the store (resuming), and reading its results back (see lab.study)."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Callable

from lab import __version__, hardware, runner
from lab.store import Store
from lab.study.spec import Study, load

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
