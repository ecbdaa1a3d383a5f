"""The main-results table: one line per configuration, as a DataFrame, LaTeX (booktabs) and Markdown.

    table = results_table(df)        # medians over repeats; latency with its [min, max] over repeats
    table = results_table(df, columns=["model", "quant", "latency_ms_p50", "accuracy"])   # chosen columns
    tex = to_latex(table)            # a table float: short caption, \\label, booktabs rules, footnote
    md = to_markdown(table)          # a pipe table, then the footnote

The footnote names what the table does not show: failed configurations (with their error) and
rows left out because a stricter budget's rows of the same configuration exist (budgets are never
pooled as repeats; lab.paper.left_out). Lines are in display order (lab.paper.order: fp32 and no
pruning first). LaTeX headers put units on a second line, so columns stay narrow; up to
COLUMN_FLOAT_MAX columns go in a one-column ``table`` float, more in a two-column ``table*``.

Both renderers are written here (no jinja2 / tabulate): the output must not
change with those packages' versions, and tabulate is not a dependency.
Headers carry the units of lab/columns.py.
"""
from __future__ import annotations

import math

import pandas as pd

from lab import config
from lab.paper import data, left_out, order

# The knobs every table shows, and those shown too when they vary, so two lines never look alike
# (e.g. two seeds of random pruning): each knob's ``table`` in lab.config.
KNOBS = tuple(k for k, s in config.KNOBS.items() if s.table == "always")
VARYING = tuple(k for k, s in config.KNOBS.items() if s.table == "varying")
# What the transforms reached, beside the knobs that asked (shown when some row pruned / quantized).
REACHED = ("params_removed_frac", "quantized_frac")
VALUES = ("latency_ms_p50", "throughput_sps", "peak_mem_mib", "energy_mj_per_sample", "accuracy")
OPTIONAL = ("co2_g_per_1k", "cost_usd_per_1m", "roofline_frac")  # shown only when some row has them
INTERVAL = ("latency_ms_p50",)  # shown as "median [lo, hi]"
# Every column a table may show, by the rows' column names (the --columns vocabulary).
COLUMNS = tuple(config.KNOBS) + REACHED + ("repeats",) + VALUES + ("energy_source",) + OPTIONAL + ("budget",)
COMPACT = ("latency_ms_p50", "throughput_sps", "energy_mj_per_sample", "accuracy")  # results.tex by default
COLUMN_FLOAT_MAX = 6  # columns that fit one column of a two-column paper at \small
CAPTION_SHORT = "Main results"
CAPTION = "Main results: medians over repeats; latency p50 as median [min, max] over repeats."
LABEL = "tab:results"
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
    "roofline_frac": ("roofline", "fraction of attainable"), "budget": ("budget", None),
    "sparsity": ("sparsity asked", None),  # the knob; what pruning reached is params_removed_frac
    "params_removed_frac": ("params removed", "fraction"), "quantized_frac": ("weights quantized", "fraction"),
}
LATEX_NAMES = {"co2_g_per_1k": "CO$_2$e"}  # the one header that is written in LaTeX on purpose
TEXT = {k for k, s in config.KNOBS.items() if s.kind in (str, bool)} | {"energy_source", "budget"}
INTEGERS = {k for k, s in config.KNOBS.items() if s.kind is int} | {"repeats"}
FIXED3 = {"accuracy", "roofline_frac", *REACHED}  # fractions: three decimals, comparable down a column
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def check_columns(columns) -> list[str]:
    """``columns`` (a list, or a comma-separated string) as a list, each one of COLUMNS; a one-line
    ValueError naming the unknown ones and the allowed names otherwise."""
    names = [c.strip() for c in (columns.split(",") if isinstance(columns, str) else columns) if str(c).strip()]
    bad = [c for c in names if c not in COLUMNS]
    if bad or not names:
        raise ValueError(f"columns={','.join(bad) or repr(columns)} is not allowed: a comma list of "
                         f"{', '.join(COLUMNS)}")
    return list(dict.fromkeys(names))


def results_table(df: pd.DataFrame, *, quality_name: str | None = None, columns=None,
                  compact: bool = False) -> pd.DataFrame:
    """One row per configuration (rows sharing a config_id are repeats): the knobs (model, quant,
    prune_method, sparsity, batch_size, and any other knob or the budget where they vary), 'repeats',
    the median latency p50 (ms) with latency_ms_p50_lo/_hi (min/max over repeats), median throughput
    (samples/s), peak memory (MiB), energy per sample (mJ) and its energy_source, accuracy, and
    co2_g_per_1k / cost_usd_per_1m / roofline_frac where any row has them. Rows with an error are
    left out, and per configuration only the strictest budget's rows are used; both are listed in
    ``table.attrs['failed']`` / ``['omitted']`` (the footnote). columns: show these (COLUMNS names,
    in this order; a column no row has reads '--') instead of the default set. compact: the default
    set narrowed to the knobs and COMPACT (what results.tex shows unless columns are chosen); the
    energy source then goes into the energy header."""
    chosen = check_columns(columns) if columns is not None else None
    ok, omitted = left_out.strictest_budget(data.ok_rows(df))
    reached = [c for c in REACHED if c in ok and (pd.to_numeric(ok[c], errors="coerce").fillna(0) > 0).any()]
    values = [c for c in VALUES if c in ok] + [c for c in OPTIONAL if not data.has_values(ok, c)]
    values += [c for c in (chosen or []) if c in OPTIONAL and c in ok and c not in values]
    agg = order.sort_rows(data.aggregate(ok, values + [c for c in REACHED if c in ok]), list(config.KNOBS))
    if chosen is None:
        knobs = [k for k in KNOBS if k in agg]
        knobs += [k for k in VARYING + ("budget",) if k in agg and agg[k].astype(str).nunique() > 1]
        knobs += reached  # what was reached, beside what was asked
        chosen = knobs + [v for v in values if v in COMPACT] if compact else knobs + ["repeats"] + values
        if "energy_source" in agg and "energy_mj_per_sample" in chosen and not compact:
            chosen.insert(chosen.index("energy_mj_per_sample") + 1, "energy_source")
    cols = []
    for col in chosen:
        cols.append(col)
        if col in INTERVAL:
            cols += [f"{col}_lo", f"{col}_hi"]
    table = agg.reindex(columns=cols) if len(agg) else pd.DataFrame(columns=cols)
    if quality_name:
        table.attrs["quality_name"] = quality_name
    elif "metric" in ok and ok["metric"].dropna().nunique() == 1:
        table.attrs["quality_name"] = str(ok["metric"].dropna().iloc[0])
    table.attrs["failed"], table.attrs["omitted"] = left_out.failed(df), omitted
    if "energy_source" in ok:
        table.attrs["energy_sources"] = [str(s) for s in dict.fromkeys(ok["energy_source"].dropna())]
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
        sources = table.attrs.get("energy_sources") or []
        if col == "energy_mj_per_sample" and "energy_source" not in shown and len(sources) == 1:
            unit = f"{unit}, {sources[0]}"  # one source for every row: said once, in the header
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


def to_latex(table: pd.DataFrame, *, caption: str = CAPTION, short_caption: str = CAPTION_SHORT,
             label: str = LABEL) -> str:
    """``table`` as a LaTeX float: a caption short enough for one column (with a short form for the
    list of tables) and a \\label above a booktabs tabular (\\toprule, \\midrule, \\bottomrule), units on
    a second header line, special characters escaped, numbers rounded, missing values as '--'; then
    the footnote (failed and left-out configurations). ``table`` for up to COLUMN_FLOAT_MAX columns,
    else ``table*`` (both columns). Needs \\usepackage{booktabs}."""
    shown, headers, rows = _cells(table)
    align = "".join("l" if col in TEXT else "r" for col in shown)
    names = [LATEX_NAMES.get(col, latex_escape(name)) for col, (name, _) in zip(shown, headers)]
    units = [f"({latex_escape(unit)})" if unit else "" for _, unit in headers]
    env = "table" if len(shown) <= COLUMN_FLOAT_MAX else "table*"
    lines = ["% Main results: medians over repeats; latency as median [min, max] over repeats.",
             r"% Requires \usepackage{booktabs}.",
             rf"\begin{{{env}}}[tbp]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
             rf"\caption[{latex_escape(short_caption)}]{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(names) + r" \\"]
    if any(units):
        lines.append(" & ".join(units) + r" \\")
    lines.append(r"\midrule")
    for cells in rows:
        lines.append(" & ".join("--" if c is None else latex_escape(c) if col in TEXT else _latex_number(c)
                                for col, c in zip(shown, cells)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = _footnote(table)
    if notes:
        text = r" \\ ".join(latex_escape(line.replace(" · ", ", ")) for line in notes)
        lines += [r"\par\smallskip", rf"{{\footnotesize\raggedright {text}\par}}"]
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines) + "\n"


def _footnote(table: pd.DataFrame) -> list[str]:
    return left_out.footnote_lines(table.attrs.get("failed") or [], table.attrs.get("omitted") or [])


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown pipe table of ``table``: header with units, separator (text left, numbers right),
    one line per configuration; missing values as '–'; then the footnote (failed, left out)."""
    shown, headers, rows = _cells(table)

    def cell(text) -> str:
        return "–" if text is None else str(text).replace("|", "\\|")

    head = [cell(f"{name} ({unit})" if unit else name) for name, unit in headers]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(":---" if col in TEXT else "---:" for col in shown) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in cells) + " |" for cells in rows]
    notes = _footnote(table)
    if notes:
        lines += [""] + [f"*{line}*" if len(notes) == 1 else f"- {line}" for line in notes]
    return "\n".join(lines) + "\n"
