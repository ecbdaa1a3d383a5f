"""Where a figure came from: the sidecar JSON written beside every figure.

A sidecar names the query, the store ids of the rows actually drawn, the study
manifest and file, the lab version and git sha, the columns plotted, and what the
figure does not show: failed configurations and rows left out, with reasons. It has
no timestamp and uses file names, not absolute paths, so the same data written
twice (anywhere) gives the same sidecar bytes, and a figure checked into a
paper's repository can be traced back to its rows.
"""
from __future__ import annotations

import json
from pathlib import Path

KEYS = ("query", "manifest", "study_file", "lab_version", "git_sha")


def complete(provenance: dict | None) -> dict:
    """``provenance`` with every KEYS entry present: lab_version and git_sha from this checkout when
    not given; query, manifest and study_file None when not given. Other keys are kept (e.g. 'store')."""
    given = dict(provenance or {})
    out = {key: given.get(key) for key in KEYS}
    out.update((k, v) for k, v in given.items() if k not in KEYS)
    if not out["lab_version"]:
        from lab.version import __version__

        out["lab_version"] = __version__
    if not out["git_sha"]:
        from lab.hardware import git_sha  # lazy: lab.hardware imports torch

        out["git_sha"] = git_sha()
    return out


def sidecar(figure: str, size: str | None, files: list[str], row_ids: list, provenance: dict,
            columns: list[str], notes: str | None = None, *, failed=(), omitted=(), problems=()) -> dict:
    """The sidecar of one figure file set. ``files``: file names (not paths); ``row_ids``: sorted store ids.

    failed: configurations whose rows failed (lab.paper.left_out.failed); omitted: measured rows not
    drawn, with the reason; 'complete' is true only when both are empty. problems: layout problems
    lab.paper.checks found (the key is present only when there are some)."""
    entry = dict(provenance)
    entry.update(figure=figure, size=size, files=list(files), row_ids=list(row_ids), columns=list(columns),
                 failed=list(failed), omitted=list(omitted), complete=not failed and not omitted)
    if notes:
        entry["notes"] = notes
    if problems:
        entry["problems"] = list(problems)
    return entry


def honest_manifest(manifest, failed) -> dict | None:
    """The study manifest as a sidecar quotes it: 'complete' is false when configurations failed.

    A sweep that ran to the end writes complete: true even when rows failed; quoted as is, it would
    tell a reader the figure shows everything. The sweep's own flag is kept as 'sweep_finished'."""
    if not isinstance(manifest, dict) or not failed or manifest.get("complete") is not True:
        return manifest
    return dict(manifest, complete=False, sweep_finished=True,
                failed_configs=len(failed))


def dumps(obj) -> str:
    """Deterministic JSON: sorted keys, indent 2, a final newline; numpy numbers and paths as plain values."""
    return json.dumps(obj, sort_keys=True, indent=2, default=_plain, ensure_ascii=False) + "\n"


def write_json(path: Path, obj) -> Path:
    path = Path(path)
    path.write_text(dumps(obj), encoding="utf-8")
    return path


def _plain(value):
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):  # numpy array
        return value.tolist()
    return str(value)
