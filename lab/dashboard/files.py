"""The dashboard's rows as a table, and what its buttons write: figures (with their rows) and exports.

No widgets here. Figures are written with the exact rows behind them beside
them (same name, .csv), so a figure in a paper can be traced to its numbers.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from lab import __version__, columns
from lab.dashboard.figure import dashboard_figure
from lab.dashboard.render import MPL_LOCK
from lab.plots import to_bytes
from lab.store import _parquet_safe

FIGURE_DIR = Path(__file__).resolve().parents[2] / "data" / "results" / "figures"
FIGURE_FORMATS = ("pdf", "svg", "png")
ROW_FORMATS = ("csv", "parquet")
TABLE_ROWS = 40


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame, columns in the vocabulary's order (lab.columns)."""
    if not rows:
        return pd.DataFrame(columns=["config_id", "batch_size", "error"])
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pd.DataFrame(rows, columns=columns.ordered(keys))


def table_html(df: pd.DataFrame) -> str:
    """The newest rows first, the columns a terminal table shows, as HTML."""
    if len(df) == 0:
        return ""
    shown = [c for c in (*columns.TABLE_COLUMNS, "samples", "from_store") if c in df]
    return df[shown].iloc[::-1].head(TABLE_ROWS).to_html(index=False, na_rep="", border=0,
                                                         float_format=lambda x: f"{x:.4g}", classes="lab-rows")


def _target(folder, suffix: str) -> Path:
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"folder={str(folder)!r} cannot be created ({exc.strerror or exc}); "
                         "give a writable folder") from None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return folder / f"dashboard-{stamp}.{suffix}"


def save_figure(df: pd.DataFrame, current, format: str = "pdf", folder=FIGURE_DIR) -> Path:
    """The dashboard figure as ``format`` (pdf, svg, png at 150 dpi) in ``folder``; its rows as .csv beside it."""
    if format not in FIGURE_FORMATS:
        raise ValueError(f"format={format!r} is not allowed: one of {', '.join(FIGURE_FORMATS)}")
    path = _target(folder, format)
    with MPL_LOCK:
        fig = dashboard_figure(df, current, dpi=150)
        data = to_bytes(fig, format, metadata={"Title": "Efficiency Lab dashboard",
                                               "Creator": f"efficiency-lab {__version__}"})
    try:
        path.write_bytes(data)
        df.to_csv(path.with_suffix(".csv"), index=False)
    except OSError as exc:
        raise ValueError(f"folder={str(path.parent)!r} cannot be written ({exc.strerror or exc})") from None
    return path


def export_rows(df: pd.DataFrame, format: str = "csv", folder=FIGURE_DIR) -> Path:
    """The rows as csv or parquet in ``folder``."""
    if format not in ROW_FORMATS:
        raise ValueError(f"format={format!r} is not allowed: one of {', '.join(ROW_FORMATS)}")
    path = _target(folder, format)
    try:
        df.to_csv(path, index=False) if format == "csv" else _parquet_safe(df).to_parquet(path, index=False)
    except OSError as exc:
        raise ValueError(f"folder={str(path.parent)!r} cannot be written ({exc.strerror or exc})") from None
    return path
