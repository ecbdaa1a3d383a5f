"""The order every figure, legend and table shows things in: the baseline first, then the declared order.

A knob with declared choices (model, prune_method, quant: lab.config) is shown in the order its
registry declares them, with its baseline default first (fp32; no pruning). Values the registry
does not know (rows from an older lab, another machine or a renamed scheme) follow, alphabetically.
Numbers ascend (sparsity 0, the dense baseline, and batch size 1 come first); ``False`` comes before
``True`` (eager before compiled). Alphabetical order is never used where a declared one exists:
sorted, 'bf16' would come before 'fp32' and the baseline would hide in the middle.

    ordered("quant", ["int8-dynamic", "bf16", "fp32"])   # ['fp32', 'bf16', 'int8-dynamic']
    sort_rows(df, ["model", "quant", "batch_size"])      # rows in that order, stable
    label_order(df, "_rest")                             # series labels in the order of their knobs
"""
from __future__ import annotations

import math

import pandas as pd

from lab import config
from lab.budget import BUDGETS

SCHEME_COLUMN = "_scheme"  # lab.paper.data's per-row scheme text: ordered like 'quant'


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def rank(knob: str, value) -> tuple:
    """A sort key for ``value`` of ``knob``: (group, position, text); smaller is shown first.

    group 0: the baseline (the knob's default where it is a baseline knob, or the first declared
    choice); 1: declared choices in their order, or numbers ascending; 2: unknown values, by text;
    3: missing values (None / NaN)."""
    knob = "quant" if knob == SCHEME_COLUMN else knob
    if _missing(value):
        return (3, 0.0, "")
    text = str(value)
    spec = config.KNOBS.get(knob)
    if spec is None:
        number = _number(value)
        return (1, number, "") if number is not None else (2, 0.0, text)
    if spec.choices is not None:
        declared = [str(c) for c in spec.choices()]
        if spec.baseline and text == str(spec.default):
            return (0, 0.0, text)
        return (1, float(declared.index(text)), text) if text in declared else (2, 0.0, text)
    if spec.kind is bool:
        truth = text.lower() in ("true", "1")
        return (1, float(truth), "")
    if spec.kind in (int, float):
        number = _number(value)
        return (1, number, "") if number is not None else (2, 0.0, text)
    default = str(spec.default) if spec.default is not None else None
    return (0, 0.0, text) if text == default else (2, 0.0, text)


def ordered(knob: str, values) -> list:
    """The distinct ``values`` of ``knob`` in display order (see rank); first-seen value kept per text."""
    distinct = {}
    for value in values:
        distinct.setdefault(str(value), value)
    return [distinct[t] for t in sorted(distinct, key=lambda t: (rank(knob, distinct[t]), t))]


def positions(df: pd.DataFrame, knob: str) -> pd.Series:
    """Per row, the position (0, 1, ...) of its ``knob`` value in display order (an int column to sort by)."""
    where = {str(v): i for i, v in enumerate(ordered(knob, df[knob].tolist()))}
    return df[knob].map(lambda v: where[str(v)]).astype(int)


def sort_rows(df: pd.DataFrame, columns, tiebreak: str | None = None, keep_index: bool = False) -> pd.DataFrame:
    """``df`` sorted by ``columns`` in display order (those absent are ignored), then ``tiebreak``
    as text, so the result does not depend on the order the rows came in. keep_index: keep the
    rows' index labels (to tell later which rows were drawn); otherwise 0, 1, ..."""
    columns = [c for c in columns if c in df]
    if tiebreak and tiebreak in df:
        columns.append(tiebreak)
    if not columns or len(df) == 0:
        return df if keep_index else df.reset_index(drop=True)
    keys = pd.DataFrame({f"_k{i}": positions(df, c).to_numpy() for i, c in enumerate(columns)})
    at = keys.sort_values(list(keys.columns), kind="stable").index.to_numpy()
    result = df.iloc[at]
    return result if keep_index else result.reset_index(drop=True)


def label_order(df: pd.DataFrame, label: str, knobs=None) -> list[str]:
    """The distinct texts of column ``label`` (a series label made from knobs) in the display order
    of the knobs behind them: e.g. 'dense' before 'unstructured · sparsity 0.5'."""
    if label not in df or len(df) == 0:
        return []
    knobs = [k for k in (knobs or config.KNOBS) if k in df]
    return list(dict.fromkeys(sort_rows(df, knobs + [label])[label].astype(str)))


def budget_rank(name) -> tuple:
    """Strictest first, as lab.budget.BUDGETS declares them ('default' before 'quick'); unknown
    (custom) budgets after, by name. A row without a budget was measured with 'default'."""
    name = "default" if _missing(name) else str(name)
    known = list(BUDGETS)
    return (0, known.index(name), "") if name in known else (1, 0, name)
