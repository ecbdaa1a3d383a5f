"""Where a figure came from: the sidecar JSON written beside every figure.

A sidecar names the query, the store ids of the rows actually drawn, the study
manifest and file, the lab version and git sha, and the columns plotted. It has
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
            columns: list[str], notes: str | None = None) -> dict:
    """The sidecar of one figure file set. ``files``: file names (not paths); ``row_ids``: sorted store ids."""
    entry = dict(provenance)
    entry.update(figure=figure, size=size, files=list(files), row_ids=list(row_ids), columns=list(columns))
    if notes:
        entry["notes"] = notes
    return entry


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
