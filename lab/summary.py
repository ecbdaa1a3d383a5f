"""Summaries over repeats, and the quality budget. Pure pandas: DataFrame in, DataFrame / Series out.

    summary = summarize(df)                   # one row per configuration: median, min, max, repeats
    ok = within_quality_budget(df, {"max_drop": 0.01})

The interval is the **min-max across repeats** (columns ``<value>_lo`` /
``<value>_hi``; ``<value>`` itself is the median). Studies have few repeats
(3 by default in examples/study.toml): with 3 values the 25th/75th percentiles
are interpolated halfway to the extremes and look like a statistic they are not,
while min-max is exactly what was observed and claims nothing more.
"""
from __future__ import annotations

import math

import pandas as pd

from lab.columns import COLUMNS
from lab.config import DEFAULT_BASELINE, KNOBS

INTERVAL = "min-max across repeats"
# What a quality drop is measured against by default: the shipped model in fp32, unpruned, not fine-tuned.
QUALITY_COLUMN = "accuracy"  # holds the model's quality metric (its name is in 'metric'); higher is better
# Numeric columns that describe the run rather than measure it: never summarized by default.
_NOT_VALUES = set(KNOBS) | {"id", "repeat", "samples", "energy_window_s", "finetune_epochs_done",
                            "carbon_g_per_kwh", "price_usd_per_hour", "cpu_count"}


def succeeded(df: pd.DataFrame) -> pd.Series:
    """True for rows without an error (a missing ``error`` column means none failed)."""
    if "error" not in df.columns:
        return pd.Series(True, index=df.index)
    return df["error"].isna() | (df["error"] == "")


def _default_values(df: pd.DataFrame) -> list[str]:
    known = [c for c in COLUMNS if c in df.columns] + [c for c in df.columns if c not in COLUMNS]
    return [c for c in known if c not in _NOT_VALUES and pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c])]


def summarize(df: pd.DataFrame, by: str | list[str] | None = None, values: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration: for each value column its median over repeats, plus the interval.

    by:     the grouping (default: ``config_id`` when present, else the knob columns present)
    values: columns to summarize (default: every numeric measurement column, units as in lab.columns)

    Columns: the ``by`` columns, the other knob columns (constant within a config),
    then for each value ``v``: ``v`` = median, ``v_lo`` / ``v_hi`` = min / max across
    repeats (see the module docstring for why min-max), and ``repeats`` (rows summarized).
    Rows with an ``error`` are left out; NaN values are skipped (a group of only NaN gives NaN).
    ``result.attrs["interval"]`` says which interval this is.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df={type(df).__name__} is not allowed: a pandas DataFrame")
    if by is None:
        by = ["config_id"] if "config_id" in df.columns else [k for k in KNOBS if k in df.columns]
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + list(values or []) if c not in df.columns]
    if missing or not by:
        raise ValueError(f"by/values={missing or by!r} is not allowed: columns of df "
                         f"(columns: {', '.join(map(str, df.columns[:12]))})")
    values = _default_values(df) if values is None else list(values)
    rows = df[succeeded(df)]
    keep = [k for k in KNOBS if k in rows.columns and k not in by]
    groups = rows.groupby(by, dropna=False, sort=False)
    numeric = rows[values].apply(pd.to_numeric, errors="coerce") if values else rows[[]]
    parts = [groups[keep].first() if keep else None]
    grouped = numeric.groupby([rows[c] for c in by], dropna=False, sort=False)
    for value in values:
        parts.append(pd.DataFrame({value: grouped[value].median(), f"{value}_lo": grouped[value].min(),
                                   f"{value}_hi": grouped[value].max()}))
    parts.append(groups.size().rename("repeats"))
    out = pd.concat([p for p in parts if p is not None], axis=1).reset_index()
    out.attrs["interval"] = INTERVAL
    return out


def _quality_settings(quality) -> tuple[float, dict]:
    """(max_drop, baseline knobs) from a lab.study.Quality, a Study, or a dict like the manifest's."""
    quality = getattr(quality, "quality", quality)  # a Study
    if hasattr(quality, "max_drop"):
        return float(quality.max_drop), dict(quality.baseline)
    if isinstance(quality, dict) and isinstance(quality.get("max_drop"), (int, float)):
        return float(quality["max_drop"]), dict(quality.get("baseline") or DEFAULT_BASELINE)
    raise ValueError(f"quality={quality!r:.80} is not allowed: a study's quality budget "
                     "(lab.study.Quality or {'max_drop': ..., 'baseline': {...}})")


def _key(row, columns) -> tuple:
    # NaN != NaN, so a missing knob value (an old row without `width`) would never match itself.
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in (row[c] for c in columns))


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def within_quality_budget(df: pd.DataFrame, quality) -> pd.Series:
    """True where a row's quality (``accuracy``) is at most ``max_drop`` below its baseline's.

    A row's baseline rows have the baseline's values for the knobs it names
    (default: quant fp32, prune_method none, sparsity 0, finetune_epochs 0, width 1)
    and the row's own values for every other knob column present (model,
    batch_size, device, threads, compile, seed, ...); their median quality (over
    repeats) is the reference. False for failed rows, rows with no quality value
    and rows whose baseline was not measured. Index as ``df``.
    """
    max_drop, baseline = _quality_settings(quality)
    if QUALITY_COLUMN not in df.columns:
        raise ValueError(f"df has no {QUALITY_COLUMN!r} column: the quality budget needs each row's quality metric")
    fixed = {k: v for k, v in baseline.items() if k in df.columns}
    free = [k for k in KNOBS if k in df.columns and k not in baseline]
    ok = succeeded(df)
    quality_values = pd.to_numeric(df[QUALITY_COLUMN], errors="coerce")
    reference: dict[tuple, list[float]] = {}
    for index, row in df[ok].iterrows():
        if all(_same(row[k], v) for k, v in fixed.items()) and not math.isnan(quality_values[index]):
            reference.setdefault(_key(row, free), []).append(quality_values[index])
    medians = {key: float(pd.Series(vals).median()) for key, vals in reference.items()}
    within = []
    for index, row in df.iterrows():
        base = medians.get(_key(row, free))
        value = quality_values[index]
        # A tiny tolerance: 0.99 - 0.98 is 0.010000000000000009 in binary floating point.
        within.append(bool(ok[index]) and base is not None and not math.isnan(value)
                      and base - value <= max_drop + 1e-12)
    return pd.Series(within, index=df.index, dtype=bool, name="within_quality_budget")
