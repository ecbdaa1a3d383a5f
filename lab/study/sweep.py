"""Measuring a study into the store (resuming), and reading its results back (see lab.study)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from lab import hardware, sensitivity
from lab.bench import DEFAULT_STORE, Bench
from lab.store import Store, utc_now
from lab.version import MEASUREMENT_VERSION, __version__
from lab.study.spec import Study, load

MANIFEST = "manifest.json"
ROWS = "rows.jsonl"


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


def run(study: Study | str | os.PathLike, *, bench: Bench | None = None,
        store: Store | str | os.PathLike | None = DEFAULT_STORE, results_dir: str | os.PathLike | None = None,
        force: bool = False, on_row: Callable[[dict], None] | None = None,
        progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure every configuration x repeat of ``study`` that the store cannot serve; return the manifest.

    bench:       the path to the store (lab.bench.Bench); default: a Bench on ``store`` with the study's budget
                 (a ``kind = "training"`` study trains through lab.train.TrainBench on the same store)
    store:       without ``bench``: a Store, a path, or DEFAULT_STORE ($LAB_STORE or data/results/lab.sqlite), as
                 lab.bench.open_store reads it; None is refused (a study always stores: reruns resume from it)
    results_dir: where manifest.json, rows.jsonl and sensitivity-<model>.csv go (default study.results_dir)
    force:       measure every repeat again
    on_row:      called with each row as it comes (``from_store`` True for a reused row)
    progress:    progress(done, total) after each row; total = configurations x repeats

    Which stored rows count is the Bench's one reuse rule (a failed, contended or outdated row is
    measured again). Missing repeats are measured round by round across configurations, not back
    to back. The manifest and rows.jsonl are rewritten after each row (``complete`` False,
    ``finished_at`` None until the end), so an interrupted sweep says how far it got; at the end
    ``sweep_finished`` is True and ``complete`` is True only if no configuration failed every
    repeat (those are listed in ``failed_configs``).
    """
    study = study if isinstance(study, Study) else load(study)
    study.check()  # a model not registered in this process: one line naming grid.model, nothing measured
    if study.kind == "training":  # lab.train's path: the same reuse rule and commit-as-measured, its own rows
        from lab.train.bench import TrainBench

        if not isinstance(bench, TrainBench):
            bench = TrainBench(store if bench is None else bench.store, budget=study.budget)
    elif bench is None:
        bench = Bench(store, budget=study.budget)
    if bench.store is None:
        raise ValueError("store=None is not allowed: a study always stores (a rerun resumes from the store)")
    out = Path(results_dir) if results_dir is not None else study.results_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out={out} cannot be created ({exc.strerror or exc}); give a writable directory") from None
    previous = _read_manifest(out)
    configs = study.configs()
    environments = {device: bench.environment(device) for device in study.devices}
    manifest = {
        "study": study.name, "description": study.description, "study_file": str(study.path),
        "study_sha256": study.sha256, "resolved": study.resolved(), "configs": [], "row_ids": [],
        "environment": environments[study.devices[0]], "environments": environments,
        "started_at": utc_now(), "finished_at": None, "complete": False, "lab_version": __version__,
        "measurement_version": MEASUREMENT_VERSION, "git_sha": hardware.git_sha(), "store": str(bench.store.path),
        "sensitivity_files": {},
    }
    if study.kind == "training":
        from lab.train.bench import TRAINING_VERSION

        manifest.update(kind=study.kind, training_version=TRAINING_VERSION)
    entries = {}
    for config in configs:
        entries[config.config_id] = {"config_id": config.config_id, "config": config.to_dict(), "row_ids": [],
                                     "measured": 0, "reused": 0, "failed": 0, "contended": 0}
        manifest["configs"].append(entries[config.config_id])
    rows: dict[int, dict] = {}

    def record(row):
        entry = entries[row["config_id"]]
        entry["row_ids"].append(row["id"])
        entry["reused" if row.get("from_store") else "measured"] += 1
        entry["failed"] += bool(row.get("error"))
        entry["contended"] += bool(row.get("contended"))
        rows[row["id"]] = {k: v for k, v in row.items() if k != "from_store"}
        _write(manifest, rows, out)
        if on_row is not None:
            on_row(row)

    _write(manifest, rows, out)
    bench.rows(configs, repeats=study.repeats, force=force, on_row=record, progress=progress)
    manifest["sensitivity_files"] = _sensitivity(study, out, force, previous)
    # Finished is not complete: a configuration whose every repeat failed has no numbers, and
    # figures and tables built from this study must not claim it.
    manifest["finished_at"], manifest["sweep_finished"] = utc_now(), True
    manifest["failed_configs"] = [e["config_id"] for e in manifest["configs"] if e["row_ids"]
                                  and all(rows[i].get("error") for i in e["row_ids"] if i in rows)]
    manifest["complete"] = not manifest["failed_configs"]
    _write(manifest, rows, out)
    return manifest


def _write(manifest: dict, rows: dict[int, dict], out: Path) -> None:
    """manifest.json and rows.jsonl (rows in the manifest's configuration order), each replaced atomically."""
    manifest["row_ids"] = [i for entry in manifest["configs"] for i in entry["row_ids"]]
    _write_atomic(out / ROWS, _dump_rows([rows[i] for i in manifest["row_ids"] if i in rows]))
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
            df = sensitivity.sensitivity_scan(model, sparsities=study.sensitivity.sparsities,
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
