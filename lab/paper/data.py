"""Rows to what the paper shows: one line per configuration, the median over its repeats.

Repeats of one configuration are separate rows with the same ``config_id``.
``aggregate`` gives, per configuration and per value column, the median and an
interval ``<col>_lo`` / ``<col>_hi``: the min and max across repeats (or the
interval already in the rows, when study.summarize produced them), so every
band and error bar in a figure is the spread of the repeats.
"""
from __future__ import annotations

import pandas as pd

from lab import config, plots
from lab.paper import order

# Knobs that identify a configuration when rows carry no config_id (plus seed).
KNOBS = tuple(plots.SERIES_KNOBS) + tuple(k for k in config.KNOBS if k not in plots.SERIES_KNOBS)
NO_SCHEME = "all"  # the scheme name when rows carry no 'quant'


def ok_rows(df: pd.DataFrame | None) -> pd.DataFrame:
    """Measured rows only: a row with an ``error`` is a failure, not a point."""
    if df is None:
        return pd.DataFrame()
    return plots.ok_rows(df)


def has_values(df: pd.DataFrame, *cols: str) -> list[str]:
    """The columns among ``cols`` that are absent or hold no number in any row of ``df``."""
    return [c for c in cols if c not in df or plots.column(df, c).notna().sum() == 0]


def schemes(df: pd.DataFrame) -> pd.Series:
    """The quant scheme of every row as text ('all' when there is no quant column)."""
    if "quant" not in df:
        return pd.Series(NO_SCHEME, index=df.index, dtype=object)
    return df["quant"].fillna(NO_SCHEME).astype(str)


def scheme_colours(df: pd.DataFrame) -> dict[str, tuple]:
    """One colour per quant scheme, used by every figure: the i-th scheme in display order
    (lab.paper.order: fp32 first, then the registry's order) gets palette colour i, so the same
    scheme has the same colour everywhere and the baseline is always the first colour."""
    from lab.paper.style import palette

    colours = palette()
    return {name: colours[i % len(colours)] for i, name in enumerate(order.ordered("quant", set(schemes(df))))}


def config_key(df: pd.DataFrame) -> pd.Series:
    """A configuration's identity per row: config_id when present, else its knobs."""
    if "config_id" in df and df["config_id"].notna().all():
        return df["config_id"].astype(str)
    knobs = [k for k in KNOBS if k in df]
    if not knobs:
        return pd.Series([str(i) for i in range(len(df))], index=df.index, dtype=object)
    return df[knobs].astype(str).agg("|".join, axis=1)


def row_ids(df: pd.DataFrame) -> list:
    """The store ids of ``df``'s rows, sorted (ints as ints, otherwise as text)."""
    if "id" not in df or len(df) == 0:
        return []
    ids = df["id"].dropna().tolist()
    try:
        return sorted(int(i) for i in ids)
    except (TypeError, ValueError):
        return sorted(str(i) for i in ids)


def aggregate(df: pd.DataFrame, values, by: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration: its knobs (first row's), for each value column the median
    over repeats with ``_lo``/``_hi`` (min/max over repeats and any interval already given),
    'repeats' (rows) and 'ids' (list of store ids). Sorted by scheme then knobs in display order
    (lab.paper.order: the baseline first), so output order does not depend on the order rows were
    stored in. Rows of two budgets in one group are refused (ValueError): budgets are never pooled.

    by: group by these columns instead (they may name '_scheme'): e.g. a figure's point
    (scheme, series, batch size), which pools configurations that differ only in a knob the
    figure does not show (such as seed) as more repeats, instead of drawing them on top of each other."""
    from lab.summary import summarize  # the median and min-max over repeats: one definition for the lab

    values = [v for v in values if v in df]
    if len(df) == 0:
        return pd.DataFrame(columns=["_config", "_scheme", "repeats", "ids"] + values)
    frame = df.assign(_scheme=schemes(df))
    frame["_config"] = config_key(frame) if by is None else frame[list(by)].astype(str).agg("|".join, axis=1)
    _refuse_pooled_budgets(frame)
    for col in values:
        frame[col] = plots.column(frame, col)
    stats = summarize(frame.assign(error=None), by="_config", values=values).set_index("_config")
    out = []
    for key, group in frame.groupby("_config", sort=True):
        first = group.iloc[0]
        row = {k: first[k] for k in frame.columns
               if k not in values and k != "id" and not k.endswith(("_lo", "_hi"))}
        row.update(_config=key, repeats=len(group), ids=row_ids(group))
        for col in values:
            median, low, high = (stats.at[key, c] for c in (col, f"{col}_lo", f"{col}_hi"))
            # Rows that are already summaries carry their own interval: keep the wider one.
            if f"{col}_lo" in group:
                low = pd.concat([pd.Series([low]), plots.column(group, f"{col}_lo")]).min()
            if f"{col}_hi" in group:
                high = pd.concat([pd.Series([high]), plots.column(group, f"{col}_hi")]).max()
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = float(median), float(low), float(high)
        out.append(row)
    result = pd.DataFrame(out)
    return order.sort_rows(result, ["_scheme", "model", "prune_method", "sparsity", "batch_size"], tiebreak="_config")


def _refuse_pooled_budgets(frame: pd.DataFrame) -> None:
    """A point pooling rows of two budgets would average noisier quick rows with default ones as
    'repeats': refuse, naming the fix (lab.paper.left_out.strictest_budget keeps the stricter)."""
    if "budget" not in frame:
        return
    budgets = frame["budget"].where(frame["budget"].notna(), "default").astype(str)
    mixed = budgets.groupby(frame["_config"]).nunique()
    if (mixed > 1).any():
        names = ", ".join(sorted(set(budgets), key=order.budget_rank))
        raise ValueError(f"rows of budgets {names} would be pooled as repeats of one point; keep one budget "
                         f"per configuration (lab.paper.left_out.strictest_budget keeps the stricter one)")


def rest_labels(df: pd.DataFrame, by_model: bool = False) -> pd.Series:
    """Per row, the knobs besides the scheme and batch size that vary (e.g. 'dense', 'unstructured ·
    49% of params removed'); the same text everywhere when nothing else varies. by_model: the model
    is shown by its panel, so it is left out of the label too. A pruned series is labelled with what
    pruning reached (``params_removed_frac``, a range when the series spans models that reached
    different fractions), not with the sparsity knob it asked for: structured 0.5 on a GRU model
    removes 17 % of the parameters."""
    labels = plots.series(df, exclude=("batch_size", "quant") + (("model",) if by_model else ()))
    return reached_labels(df, labels)


def reached_labels(df: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """``labels`` with each 'sparsity X' (the knob asked for) replaced by the fraction of parameters
    the rows behind that label had removed (params_removed_frac), where the rows record it."""
    if not {"prune_method", "sparsity", "params_removed_frac"} <= set(df) or len(df) == 0:
        return labels
    out = labels.copy()
    pruned = df["prune_method"].astype(str) != "none"
    for label in labels[pruned].unique():
        rows = df[(labels == label) & pruned]
        reached = pd.to_numeric(rows["params_removed_frac"], errors="coerce").dropna()
        asked = f"sparsity {float(rows['sparsity'].iloc[0]):g}"
        if reached.empty or asked not in label:
            continue
        lo, hi = reached.min(), reached.max()
        share = f"{lo:.0%}" if f"{lo:.0%}" == f"{hi:.0%}" else f"{lo:.0%}–{hi:.0%}"
        out[labels == label] = label.replace(asked, f"{share} of params removed")
    return out


def smallest_batch(df: pd.DataFrame):
    """The smallest batch size measured (the latency-critical setting), or None."""
    sizes = plots.column(df, "batch_size").dropna()
    return None if sizes.empty else int(sizes.min())


def from_study(study_file, results_dir=None) -> tuple[pd.DataFrame, dict, dict | None]:
    """A study's stored results, ready for write_figures: (rows, provenance, sensitivity scans).

    Reads the study's results directory only (rows.jsonl, manifest.json,
    sensitivity-*.csv); never measures. One-line ValueError when the file or
    its results are missing.
    """
    from pathlib import Path

    from lab import study as studies

    if not Path(study_file).is_file():
        raise ValueError(f"study={study_file} does not exist; give a study file (TOML), e.g. examples/study.toml")
    study = studies.load(study_file, results_dir=results_dir)  # ValueError: one line naming the field
    try:
        df, manifest = studies.load_results(study)
    except FileNotFoundError:
        raise ValueError(f"results={study.results_dir} holds no study results; "
                         f"run `python -m lab sweep {study_file}` first") from None
    sensitivity = studies.load_sensitivity(study) if study.sensitivity else None
    return df, {"manifest": manifest, "study_file": str(study_file), "study": study.name}, sensitivity
