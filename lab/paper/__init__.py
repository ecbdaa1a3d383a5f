"""Publication figures and tables from result rows: one style, units on every axis, deterministic files.

    from lab.paper import write_figures, results_table, to_latex, to_markdown, paper_style
    entries = write_figures(df, "figures/", provenance={"query": None, "manifest": manifest})
    df, provenance, scans = from_study("data/reference/reference.toml")   # a study's stored results

Or from the command line: ``python -m lab figures STUDY.toml --out figures/``.
Modules: style (rcParams, sizes in inches, save metadata), data (medians and
intervals over repeats), order (the baseline first, then declared order), figures
and figures_extra (one drawing function per figure), layout (series styles,
legends outside the data, panels per model, a frozen layout), checks (clipped
text and legends on data, measured on the render), left_out (failed and
left-out configurations; budgets never pooled), tables (LaTeX and Markdown),
provenance (sidecar JSON), write (files), cli.
Names are loaded on first use, so ``from lab.paper import cli`` (done by
lab/cli.py) does not import matplotlib or pandas.
"""
import importlib

_EXPORTS = {
    "paper_style": "style", "figsize": "style", "save_kwargs": "style", "SINGLE_COLUMN": "style",
    "DOUBLE_COLUMN": "style", "results_table": "tables", "to_latex": "tables", "to_markdown": "tables",
    "write_figures": "write", "write_tables": "write", "FIGURES": "write", "NAMES": "write",
    "from_study": "data",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lab.paper.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lab.paper' has no attribute {name!r}")
