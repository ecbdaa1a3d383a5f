"""The Pareto front: rows no other row beats on every objective at once.

    front = pareto_front(df, {"latency_ms_p50": "min", "accuracy": "max"})

Row a *dominates* row b when a is at least as good as b on every objective and
strictly better on at least one. The front is every row that no row dominates;
rows that tie on every objective are all on the front (neither beats the other).
Rows with a missing (NaN / None) objective, or with an ``error``, are not
candidates: a failed measurement is not a trade-off.

Pure pandas / numpy: used by the dashboard's live view and by paper figures.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SENSES = ("min", "max")
_CHUNK = 1024  # rows compared at once: memory O(_CHUNK * n * objectives)


def _check(df, objectives) -> dict[str, str]:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df={type(df).__name__} is not allowed: a pandas DataFrame")
    if not isinstance(objectives, dict) or not objectives:
        raise ValueError(f"objectives={objectives!r} is not allowed: a non-empty dict of column -> 'min' or 'max'")
    for column, sense in objectives.items():
        if column not in df.columns:
            raise ValueError(f"objectives[{column!r}] is not allowed: not a column of df "
                             f"(columns: {', '.join(map(str, df.columns[:12]))})")
        if sense not in SENSES:
            raise ValueError(f"objectives[{column!r}]={sense!r} is not allowed: 'min' or 'max'")
    return objectives


def dominated(values: np.ndarray) -> np.ndarray:
    """For an (n, k) array where smaller is better in every column: True where a row is dominated."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = values[start:start + _CHUNK]                      # (c, k): the rows being judged
        no_worse = (values[None, :, :] <= block[:, None, :]).all(axis=2)   # (c, n): other j <= row i
        better = (values[None, :, :] < block[:, None, :]).any(axis=2)
        out[start:start + _CHUNK] = (no_worse & better).any(axis=1)
    return out


def pareto_front(df: pd.DataFrame, objectives: dict[str, str]) -> pd.DataFrame:
    """The non-dominated rows of ``df`` (same columns and index, original order).

    objectives: column -> 'min' (smaller is better, e.g. latency, energy) or 'max'
    (larger is better, e.g. accuracy); any number of columns. Raises ValueError
    naming the field for an unknown column or sense.
    """
    objectives = _check(df, objectives)
    columns = list(objectives)
    candidates = df
    if "error" in df.columns:
        candidates = candidates[candidates["error"].isna()]
    values = candidates[columns].apply(pd.to_numeric, errors="coerce")
    complete = values.notna().all(axis=1).to_numpy()
    candidates, values = candidates[complete], values[complete]
    if candidates.empty:
        return candidates
    signs = np.array([1.0 if objectives[c] == "min" else -1.0 for c in columns])
    matrix = values.to_numpy(dtype=float) * signs
    return candidates[~dominated(matrix)]
