"""The main-results table: one line per configuration, as a DataFrame, LaTeX (booktabs) and Markdown.

    table = results_table(df)        # medians over repeats; latency with its [min, max] over repeats
    tex = to_latex(table)            # \\toprule ... \\bottomrule; needs \\usepackage{booktabs}
    md = to_markdown(table)          # a pipe table

Both renderers are written here (no jinja2 / tabulate): the output must not
change with those packages' versions, and tabulate is not a dependency.
Headers carry the units of lab/columns.py.
"""
from __future__ import annotations

import math

import pandas as pd

from lab import config
from lab.paper import data

# The knobs every table shows, and those shown too when they vary, so two lines never look alike
# (e.g. two seeds of random pruning): each knob's ``table`` in lab.config.
KNOBS = tuple(k for k, s in config.KNOBS.items() if s.table == "always")
VARYING = tuple(k for k, s in config.KNOBS.items() if s.table == "varying")
VALUES = ("latency_ms_p50", "throughput_sps", "peak_mem_mib", "energy_mj_per_sample", "accuracy")
OPTIONAL = ("co2_g_per_1k", "cost_usd_per_1m", "roofline_frac")  # shown only when some row has them
INTERVAL = ("latency_ms_p50",)  # shown as "median [lo, hi]"
# column -> (name, unit or None); units as lab/columns.py states them.
def _split_label(label: str) -> tuple[str, str | None]:
    """'batch size (samples)' -> ('batch size', 'samples'); 'model' -> ('model', None)."""
    name, _, unit = label.partition(" (")
    return name, unit.rstrip(")") or None


HEADERS = {
    **{k: _split_label(s.label) for k, s in config.KNOBS.items()}, "repeats": ("repeats", None),
    "latency_ms_p50": ("latency p50", "ms"), "throughput_sps": ("throughput", "samples/s"),
    "peak_mem_mib": ("peak memory", "MiB"), "energy_mj_per_sample": ("energy/sample", "mJ"),
    "energy_source": ("energy source", None), "accuracy": ("accuracy", None),
    "co2_g_per_1k": ("CO2e", "g/1k samples"), "cost_usd_per_1m": ("cost", "USD/1M samples"),
    "roofline_frac": ("roofline", "fraction of attainable"),
}
LATEX_NAMES = {"co2_g_per_1k": "CO$_2$e"}  # the one header that is written in LaTeX on purpose
TEXT = {k for k, s in config.KNOBS.items() if s.kind in (str, bool)} | {"energy_source"}
INTEGERS = {k for k, s in config.KNOBS.items() if s.kind is int} | {"repeats"}
FIXED3 = {"accuracy", "roofline_frac"}  # fractions: three decimals, comparable down a column
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def results_table(df: pd.DataFrame, *, quality_name: str | None = None) -> pd.DataFrame:
    """One row per configuration (rows sharing a config_id are repeats): the knobs (model, quant,
    prune_method, sparsity, batch_size), 'repeats', the median latency p50 (ms) with
    latency_ms_p50_lo/_hi (min/max over repeats), median throughput (samples/s), peak memory (MiB),
    energy per sample (mJ) and its energy_source, accuracy, and co2_g_per_1k / cost_usd_per_1m /
    roofline_frac where any row has them. Rows with an error are left out."""
    ok = data.ok_rows(df)
    values = [c for c in VALUES if c in ok] + [c for c in OPTIONAL if not data.has_values(ok, c)]
    agg = data.aggregate(ok, values)
    knobs = [k for k in KNOBS if k in agg] + [k for k in VARYING if k in agg and agg[k].astype(str).nunique() > 1]
    cols = knobs + ["repeats"]
    for col in values:
        cols.append(col)
        if col in INTERVAL:
            cols += [f"{col}_lo", f"{col}_hi"]
        if col == "energy_mj_per_sample" and "energy_source" in agg:
            cols.append("energy_source")
    table = agg[cols] if len(agg) else pd.DataFrame(columns=cols)
    order = [k for k in config.KNOBS if k in knobs]
    table = table.sort_values(order, kind="stable").reset_index(drop=True) if order else table
    if quality_name:
        table.attrs["quality_name"] = quality_name
    elif "metric" in ok and ok["metric"].dropna().nunique() == 1:
        table.attrs["quality_name"] = str(ok["metric"].dropna().iloc[0])
    return table


def number(value, col: str) -> str | None:
    """A cell's text, rounded for reading (3 significant figures, fractions to 3 decimals); None = missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if col in TEXT:
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return None
    if col in INTEGERS:
        return str(int(round(v)))
    if col == "sparsity":
        return f"{v:g}"
    if col in FIXED3:
        return f"{v:.3f}"
    size = abs(v)
    if size >= 100:
        return f"{v:.0f}"
    if size >= 10:
        return f"{v:.1f}"
    if size >= 1:
        return f"{v:.2f}"
    if v == 0:
        return "0"
    if size >= 1e-3:  # 3 significant figures, trailing zeros kept: 0.220, 0.0738
        return f"{v:.{2 - math.floor(math.log10(size))}f}"
    return f"{v:.2e}"


def _cells(table: pd.DataFrame):
    """(columns shown, header (name, unit) per column, rows of cell texts) with intervals merged in."""
    shown = [c for c in table.columns if not (c.endswith(("_lo", "_hi")) and c[:-3] in table.columns)]
    rows = []
    for _, row in table.iterrows():
        cells = []
        for col in shown:
            text = number(row[col], col)
            if text is not None and f"{col}_lo" in table and f"{col}_hi" in table:
                lo, hi = number(row[f"{col}_lo"], col), number(row[f"{col}_hi"], col)
                if lo is not None and hi is not None:
                    text = f"{text} [{lo}, {hi}]"
            cells.append(text)
        rows.append(cells)
    headers = []
    for col in shown:
        name, unit = HEADERS.get(col, (col, None))
        if col == "accuracy" and table.attrs.get("quality_name"):
            name = table.attrs["quality_name"]
        headers.append((name, unit))
    return shown, headers, rows


def latex_escape(text: str) -> str:
    """Text safe in LaTeX text mode (underscores, percent, ampersand, ... escaped)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_number(text: str) -> str:
    if "e-" in text or "e+" in text:  # 1.23e-05 -> $1.23\times10^{-5}$
        mantissa, exponent = text.split("e")
        return rf"${mantissa}\times10^{{{int(exponent)}}}$"
    return latex_escape(text)


def to_latex(table: pd.DataFrame) -> str:
    """A booktabs tabular (\\toprule, \\midrule, \\bottomrule) of ``table``; units in the headers,
    special characters escaped, numbers rounded; missing values as '--'. Needs \\usepackage{booktabs}."""
    shown, headers, rows = _cells(table)
    align = "".join("l" if col in TEXT else "r" for col in shown)
    head = []
    for col, (name, unit) in zip(shown, headers):
        text = LATEX_NAMES.get(col, latex_escape(name))
        head.append(f"{text} ({latex_escape(unit)})" if unit else text)
    lines = ["% Main results: medians over repeats; latency as median [min, max] over repeats.",
             r"% Requires \usepackage{booktabs}.",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for cells in rows:
        lines.append(" & ".join("--" if c is None else latex_escape(c) if col in TEXT else _latex_number(c)
                                for col, c in zip(shown, cells)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown pipe table of ``table``: header with units, separator (text left, numbers right),
    one line per configuration; missing values as '–'."""
    shown, headers, rows = _cells(table)

    def cell(text) -> str:
        return "–" if text is None else str(text).replace("|", "\\|")

    head = [cell(f"{name} ({unit})" if unit else name) for name, unit in headers]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(":---" if col in TEXT else "---:" for col in shown) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"
