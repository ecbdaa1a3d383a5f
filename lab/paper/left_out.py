"""What a figure or table does not show, and why: failed configurations and rows of a looser budget.

A figure that silently drops what failed reads as a complete study. Every sidecar, the tables'
footnotes and index.md therefore list:

- failed: configurations with a row that has an ``error`` (out of memory, a scheme this device lacks),
  with the first line of the error and how many repeats failed and how many were measured;
- omitted: measured rows left out, with the reason (a looser budget's rows where stricter ones
  exist; a value the figure needs is missing).

Budgets are never pooled. Rows measured with the ``quick`` budget are noisier than ``default``
ones; averaging them together as "repeats" would hide that. Per configuration (its knobs but the
seed, because a figure's point pools seeds), only the rows of the strictest budget present are kept
(lab.budget.BUDGETS declares the order); the others are listed as omitted.
"""
from __future__ import annotations

import math

import pandas as pd

from lab.paper import order

# The knobs a failure is described by, in this order.
DESCRIBE = ("model", "quant", "prune_method", "sparsity", "batch_size", "device", "compile")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def describe(row) -> str:
    """A configuration in a few words: 'digits-mlp · fp8 · unstructured 0.5 · batch 1'."""
    parts = []
    for knob in DESCRIBE:
        value = row.get(knob)
        if not _present(value):
            continue
        if knob == "prune_method":
            if value == "none":
                continue
            sparsity = row.get("sparsity")
            parts.append(f"{value} {float(sparsity):g}" if _present(sparsity) else str(value))
        elif knob == "sparsity":
            continue  # said with its method
        elif knob == "batch_size":
            parts.append(f"batch {int(value)}")
        elif knob == "device" and value == "cpu":
            continue
        elif knob == "compile":
            if str(value).lower() == "true":
                parts.append("compiled")
        else:
            parts.append(str(value))
    return " · ".join(parts) or "a configuration"


def _ids(group: pd.DataFrame) -> list:
    from lab.paper.data import row_ids

    return row_ids(group)


def _identity(df: pd.DataFrame) -> pd.Series:
    """A configuration's identity without its seed and budget (a figure's point pools seeds)."""
    from lab.paper.data import KNOBS, config_key

    knobs = [k for k in KNOBS if k in df and k != "seed"]
    if not knobs:
        return config_key(df)
    return df[knobs].astype(str).agg("|".join, axis=1)


def failed(df: pd.DataFrame | None, describe=describe, order_by=DESCRIBE) -> list[dict]:
    """One entry per configuration with a failed row, in display order of the ``order_by`` knobs:
    {"config" (``describe(first failed row)``: words), "config_id", "error" (first line),
    "repeats_failed", "repeats_measured", "row_ids"}. lab.paper.training passes its own ``describe``
    and ``order_by`` for training rows, whose knobs are not an inference configuration's."""
    if df is None or len(df) == 0 or "error" not in df:
        return []
    bad = df["error"].notna() & (df["error"].astype(str) != "")
    if not bad.any():
        return []
    from lab.paper.data import config_key

    frame = df.assign(_who=config_key(df))
    entries = []
    for key in list(dict.fromkeys(order.sort_rows(frame[bad], order_by, tiebreak="_who")["_who"])):
        group = frame[frame["_who"] == key]
        errors = group.loc[bad[group.index], "error"].astype(str)
        first = group.loc[bad[group.index]].iloc[0]
        entries.append({"config": describe(first), "config_id": str(first["config_id"]) if "config_id" in first
                        and _present(first["config_id"]) else None,
                        "error": errors.iloc[0].splitlines()[0] if errors.iloc[0] else "error",
                        "repeats_failed": int(len(errors)), "repeats_measured": int(len(group) - len(errors)),
                        "row_ids": _ids(group[bad[group.index]])})
    return entries


def strictest_budget(ok: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """(the rows to draw, omitted entries): per configuration, the rows of its strictest budget only.

    Rows without a ``budget`` column (or a blank one) count as 'default', as lab.bench reads them."""
    if len(ok) == 0 or "budget" not in ok:
        return ok, []
    budgets = ok["budget"].where(ok["budget"].notna(), "default").astype(str)
    if budgets.nunique() == 1:
        return ok, []
    frame = ok.assign(_who=_identity(ok), _budget=budgets)
    best = frame.groupby("_who")["_budget"].agg(lambda names: min(names, key=order.budget_rank))
    keep = frame["_budget"] == frame["_who"].map(best)
    omitted = []
    dropped = order.sort_rows(frame[~keep], DESCRIBE, tiebreak="_who")
    for (_, loose), group in dropped.groupby(["_who", "_budget"], sort=False):
        strict = best[group["_who"].iloc[0]]
        omitted.append({"config": describe(group.iloc[0]), "budget": loose, "row_ids": _ids(group),
                        "reason": f"budget {loose!r} left out: rows of the stricter budget {strict!r} exist "
                                  f"for this configuration (budgets are never pooled)"})
    return ok[keep.to_numpy()], omitted


def missing_values(scope: pd.DataFrame, drawn: pd.DataFrame, values) -> list[dict]:
    """Rows of ``scope`` (measured, in the figure's scope) that ``drawn`` lacks, each configuration
    with the value columns it has no number in."""
    from lab.plots import column

    left = scope[~scope.index.isin(drawn.index)]
    if len(left) == 0 or not values:
        return []
    left = left.assign(_who=_identity(left))
    entries = []
    for key in dict.fromkeys(order.sort_rows(left, DESCRIBE, tiebreak="_who")["_who"]):
        group = left[left["_who"] == key]
        lacking = [c for c in values if column(group, c).isna().any()]
        entries.append({"config": describe(group.iloc[0]), "row_ids": _ids(group),
                        "reason": f"no value in {', '.join(lacking)}" if lacking else "not drawn"})
    return entries


def footnote_lines(failures: list[dict], omitted: list[dict]) -> list[str]:
    """Plain-text lines for a table's footnote: 'Failed: <config> (<error>)', 'Left out: ...'."""
    lines = []
    if failures:
        lines.append("Failed (not shown): " + "; ".join(
            f"{f['config']} ({f['error']}" + (f", {f['repeats_failed']} of "
                                              f"{f['repeats_failed'] + f['repeats_measured']} repeats)"
                                              if f["repeats_measured"] else ")") for f in failures) + ".")
    if omitted:
        lines.append("Left out: " + "; ".join(f"{o['config']} ({o['reason']})" for o in omitted) + ".")
    return lines
