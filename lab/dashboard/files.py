"""The dashboard's rows as a table, and what its buttons write: figures (with their rows) and exports.

No widgets here. Figures are written with the exact rows behind them beside
them (same name, .csv), so a figure in a paper can be traced to its numbers.
"""
from __future__ import annotations

import datetime
import html
from pathlib import Path

import pandas as pd

from lab import columns
from lab.version import __version__
from lab.dashboard.figure import dashboard_figure
from lab.dashboard.render import MPL_LOCK
from lab.plots import to_bytes
from lab.store import parquet_safe

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


# Table headers with their units, where the column's name doesn't say it plainly; the others keep
# their names (a browser test finds columns by them).
HEADERS = {"co2_g_per_1k": "CO2e (g / 1k samples)", "cost_usd_per_1m": "cost (USD / 1M samples)",
           "roofline_frac": "roofline (% of attainable)"}
NOTE_CHARS = 160  # the energy note is one short line; its title attribute holds the whole text


def _number(fmt: str):
    """A cell formatter: ``fmt`` for a finite number, '' for a missing one (old rows lack the new columns)."""
    def cell(value) -> str:
        number = columns.finite(value)
        return "" if number is None else fmt.format(number)
    return cell


def _float(x: float) -> str:
    """4 significant digits, without an exponent for numbers a table shows whole (10000 samples/s, not 1e+04)."""
    return f"{x:.0f}" if 1e4 <= abs(x) < 1e12 else f"{x:.4g}"


FORMATTERS = {"co2_g_per_1k": _number("{:.3g}"), "cost_usd_per_1m": _number("{:.3g}"),
              "roofline_frac": _number("{:.0%}")}


def table_html(df: pd.DataFrame) -> str:
    """The newest rows first, the columns a terminal table shows, as HTML; carbon (g CO2e per 1k
    samples), cost (USD per 1M samples) and the roofline fraction (%) under headers with units, and
    one line under the table saying what an energy estimate assumed."""
    if len(df) == 0:
        return ""
    shown = [c for c in (*columns.TABLE_COLUMNS, "samples", "from_store") if c in df]
    rows = df.iloc[::-1].head(TABLE_ROWS)
    table = rows[shown].rename(columns=HEADERS).to_html(
        index=False, na_rep="", border=0, float_format=_float, classes="lab-rows",
        formatters={HEADERS[c]: f for c, f in FORMATTERS.items() if c in shown})
    return table + energy_note(rows)


def energy_note(rows: pd.DataFrame) -> str:
    """'<div class="lab-energy-note">energy: estimate — 10 W per busy core: ...</div>' for the shown rows'
    distinct energy assumptions (empty when every energy is a measured counter's)."""
    if "energy_assumption" not in rows:
        return ""
    found = rows[["energy_source", "energy_assumption"]] if "energy_source" in rows else \
        rows[["energy_assumption"]].assign(energy_source="estimate")
    notes = [f"{source or 'estimate'} — {assumption}" for source, assumption in
             dict.fromkeys(zip(found["energy_source"].fillna(""), found["energy_assumption"].fillna(""))) if assumption]
    if not notes:
        return ""
    text = "energy: " + "; ".join(notes)
    short = text if len(text) <= NOTE_CHARS else text[:NOTE_CHARS - 1] + "…"
    return (f'<div class="lab-energy-note" title="{html.escape(text)}" style="font-size:small;color:#555">'
            f"{html.escape(short)}</div>")


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
        df.to_csv(path, index=False) if format == "csv" else parquet_safe(df).to_parquet(path, index=False)
    except OSError as exc:
        raise ValueError(f"folder={str(path.parent)!r} cannot be written ({exc.strerror or exc})") from None
    return path
