"""Write every paper figure (PDF, SVG, 300-dpi PNG; single and double column), its sidecar JSON,
the results tables and an index of what was written and what was skipped (and why).

    entries = write_figures(df, "figures/", provenance={"query": q, "manifest": m, "study_file": p})

Files: ``<out>/<figure>-<size>.<fmt>`` and ``<out>/<figure>-<size>.json`` per figure and size;
``results.tex``, ``results.md``; ``index.json`` and ``index.md``. A figure whose columns are
missing is skipped with its reason, never an exception. Everything written is deterministic
for the same rows (fixed SVG salt, no dates, sorted JSON keys, relative file names), and each
file's bytes do not depend on which other formats were asked for: the layout is computed once
(lab.paper.layout.freeze) before the first save, and formats are saved in FORMATS order.
Failed configurations and rows of a looser budget are never silently dropped: every sidecar, the
tables' footnote and the index list them (lab.paper.left_out).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
from matplotlib.figure import Figure

from lab import plots
from lab.paper import checks, data, figures, layout, left_out, provenance as prov, tables
from lab.paper.style import SIZES, grid_figsize, paper_style, save_kwargs

FORMATS = ("pdf", "svg", "png")
BAND = "lines/points: median over repeats; bands/error bars: min-max over repeats"


@dataclass(frozen=True)
class Spec:
    name: str
    columns: tuple                      # the columns plotted (recorded in the sidecar)
    needs: Callable[[dict], str | None]  # ctx -> why it cannot be drawn, or None
    draw: Callable                      # (fig, ctx, size) -> rows drawn
    values: tuple = ()                  # value columns a row needs to be drawn (else listed as omitted)
    one_batch: bool = False             # draws the rows of one batch size only
    notes: str = BAND


def _missing(ctx, *cols) -> str | None:
    if ctx["ok"].empty:
        return "no measured rows (every row has an error, or there are none)"
    missing = data.has_values(ctx["ok"], *cols)
    return f"no values in column(s) {', '.join(missing)}" if missing else None


def _needs_at_batch(x: str):
    def needs(ctx):
        reason = _missing(ctx, x, "accuracy")
        if reason:
            return reason
        at, batch = figures.at_batch(ctx["ok"], ctx["batch_size"])
        if (plots.column(at, x).notna() & plots.column(at, "accuracy").notna()).sum() == 0:
            return f"no row at batch size {batch} has both {x} and accuracy"
        return None
    return needs


def _needs_energy(ctx):
    reason = _missing(ctx, "energy_mj_per_sample")
    if reason:
        return reason
    at, batch = figures.at_batch(ctx["ok"], ctx["batch_size"])
    return None if plots.column(at, "energy_mj_per_sample").notna().any() else \
        f"no row at batch size {batch} has energy_mj_per_sample"


def _sensitivity_models(ctx) -> list[str]:
    scans = ctx["sensitivity"] or {}
    return [m for m in sorted(scans) if isinstance(scans[m], pd.DataFrame)
            and not data.has_values(scans[m], "sparsity", "accuracy")]


def _needs_sensitivity(ctx):
    if not ctx["sensitivity"]:
        return "no sensitivity scan given (the study has no [sensitivity] section, or it has not been run)"
    return None if _sensitivity_models(ctx) else "the sensitivity scan has no rows with sparsity and accuracy"


def _needs_roofline(ctx):
    if getattr(plots, "roofline", None) is None:
        return "lab.plots.roofline is not available in this version of the lab"
    return _missing(ctx, *figures.ROOFLINE_COLUMNS)


def _draw_sensitivity(fig, ctx, size):
    scans = {m: ctx["sensitivity"][m] for m in _sensitivity_models(ctx)}
    quality = plots.quality_label(ctx["ok"]) if not ctx["ok"].empty else None
    return figures.sensitivity_scan(scans, fig, quality=quality, size=size)


def _draw_accuracy(x: str):
    def draw(fig, ctx, size):
        return figures.accuracy_panels(ctx["ok"], fig, x, colour_of=ctx["colour_of"], batch_size=ctx["batch_size"],
                                       size=size)
    return draw


ONE_BATCH = BAND + "; one batch size"
FIGURES = (
    Spec("latency-throughput", ("batch_size", "latency_ms_p50", "throughput_sps", "quant"),
         lambda ctx: _missing(ctx, "batch_size", "latency_ms_p50", "throughput_sps"),
         lambda fig, ctx, size: figures.batch_panels(ctx["ok"], fig, colour_of=ctx["colour_of"], size=size),
         values=("batch_size", "latency_ms_p50")),
    Spec("accuracy-latency", ("latency_ms_p50", "accuracy", "batch_size", "quant"), _needs_at_batch("latency_ms_p50"),
         _draw_accuracy("latency_ms_p50"), values=("latency_ms_p50", "accuracy"), one_batch=True,
         notes=ONE_BATCH + "; dashed: Pareto front of the medians"),
    Spec("accuracy-energy", ("energy_mj_per_sample", "accuracy", "energy_source", "batch_size", "quant"),
         _needs_at_batch("energy_mj_per_sample"), _draw_accuracy("energy_mj_per_sample"),
         values=("energy_mj_per_sample", "accuracy"), one_batch=True,
         notes=ONE_BATCH + "; dashed: Pareto front of the medians"),
    Spec("energy-by-scheme", ("quant", "energy_mj_per_sample", "energy_source", "batch_size"), _needs_energy,
         lambda fig, ctx, size: figures.energy_panels(ctx["ok"], fig, colour_of=ctx["colour_of"],
                                                      batch_size=ctx["batch_size"], size=size),
         values=("energy_mj_per_sample",), one_batch=True, notes=ONE_BATCH),
    Spec("sensitivity", ("layer", "sparsity", "accuracy"), _needs_sensitivity, _draw_sensitivity,
         notes="one line per layer pruned alone"),
    Spec("roofline", figures.ROOFLINE_COLUMNS + ("quant",), _needs_roofline,
         lambda fig, ctx, size: figures.roofline(ctx["ok"], fig.subplots(), colour_of=ctx["colour_of"], size=size),
         values=figures.ROOFLINE_COLUMNS, notes="lab.plots.roofline"),
)
NAMES = tuple(spec.name for spec in FIGURES)


def _check(sizes, formats):
    for size in sizes:
        if size not in SIZES:
            raise ValueError(f"sizes={tuple(sizes)!r} is not allowed: each one of {', '.join(SIZES)}")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats={tuple(formats)!r} is not allowed: each one of {', '.join(FORMATS)}")
    if not sizes or not formats:
        raise ValueError("sizes and formats must each name at least one")


def write_figures(df: pd.DataFrame, out_dir, *, provenance: dict, sensitivity: dict | None = None,
                  sizes=("single", "double"), formats=FORMATS, batch_size: int | None = None,
                  tables_too: bool = True, columns=None,
                  progress: Callable[[int, int], None] | None = None, also: list[dict] = (),
                  also_failed: list[dict] = ()) -> list[dict]:
    """Write every figure in FIGURES for each size and format, with sidecars, tables and the index.

    provenance: {"query", "manifest", "study_file", ...} (lab_version and git_sha are filled in).
    sensitivity: model -> DataFrame(layer, sparsity, accuracy, ...) for the sensitivity figure.
    formats: any subset of FORMATS, in any order: each file's bytes are the same whatever else is written.
    batch_size: the batch size of the one-batch figures (default: the smallest measured).
    columns: the results table's columns (tables.COLUMNS names; default tables.DEFAULT).
    progress: called with (done, total) after each figure and size.
    also, also_failed: entries another writer put in ``out_dir`` (lab.paper.training's) and its failed
    configurations, listed in the same index: the index is written once, so neither list is lost.
    Returns one entry per figure and size written {"kind": "figure", "figure", "size", "files" (paths),
    "sidecar" (path), "problems" (layout problems found, normally []), "skipped": None}, one per figure
    skipped {"kind": "figure", "figure", "skipped": reason}, and the tables' entry
    {"kind": "table", "figure": "results", "files", "skipped"}. Failed configurations and rows left
    out (a looser budget's) are listed in every sidecar, the tables' footnotes and the index.
    """
    sizes, formats = tuple(sizes), tuple(formats)
    _check(sizes, formats)
    formats = tuple(f for f in FORMATS if f in formats)  # always saved in one order
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out_dir={out} cannot be written ({exc.strerror or exc}); give a writable directory") \
            from None
    ctx = context(df, sensitivity=sensitivity, batch_size=batch_size)
    failures, budget_omitted = ctx["failed"], ctx["omitted"]
    source = prov.complete(provenance)
    source["manifest"] = prov.honest_manifest(source.get("manifest"), failures)
    entries, done, total = [], 0, len(FIGURES) * len(sizes)
    with paper_style():
        for spec in FIGURES:
            reason = spec.needs(ctx)
            if reason:
                entries.append({"kind": "figure", "figure": spec.name, "skipped": reason})
                done += len(sizes)
                if progress:
                    progress(done, total)
                continue
            for size in sizes:
                try:
                    entries.append(_write_one(spec, size, ctx, out, formats, source))
                except (ValueError, TypeError, KeyError) as exc:  # e.g. another module's plot refusing the rows
                    entries.append({"kind": "figure", "figure": spec.name, "size": size,
                                    "skipped": f"drawing failed: {type(exc).__name__}: {exc}"})
                done += 1
                if progress:
                    progress(done, total)
    if tables_too:
        entries.append(write_tables(df, out, columns=columns))
    write_index(out, entries + list(also), [*failures, *also_failed], budget_omitted)
    return entries


def context(df: pd.DataFrame, *, sensitivity: dict | None = None, batch_size: int | None = None) -> dict:
    """What every figure is drawn from: the measured rows (per configuration the strictest budget's),
    the scheme colours, the batch size of one-batch figures, the sensitivity scans, and what is
    left out ('failed', 'omitted': lab.paper.left_out)."""
    ok, omitted = left_out.strictest_budget(data.ok_rows(df))
    return {"ok": ok, "colour_of": data.scheme_colours(ok), "batch_size": batch_size, "sensitivity": sensitivity,
            "failed": left_out.failed(df), "omitted": omitted}


def render(spec: Spec, size: str, ctx: dict) -> tuple[Figure, pd.DataFrame]:
    """Draw one figure at column ``size`` (inside paper_style()), sized and laid out for good: the
    Figure as every format will be saved from it, and the rows drawn."""
    fig = Figure(figsize=grid_figsize(size, 1, 1))
    drawn = spec.draw(fig, ctx, size)
    _fit_height(fig, size)
    layout.freeze(fig)  # one layout, before any save: PDF, SVG and PNG alike whatever the subset
    return fig, drawn


def _fit_height(fig, size: str) -> None:
    """Size ``fig`` for its grid of panels, plus the height of a legend below them (single column)."""
    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    rows, cols = axes[0].get_subplotspec().get_gridspec().get_geometry() if axes else (1, 1)
    width, height = grid_figsize(size, rows, cols)
    fig.set_size_inches(width, height)
    if size == "single" and fig.legends:
        r = layout.renderer(fig)
        extra = sum(legend.get_window_extent(r).height for legend in fig.legends) / fig.dpi
        fig.set_size_inches(width, round(height + extra + 0.05, 3))


def _scope(spec: Spec, ctx: dict) -> pd.DataFrame:
    """The measured rows a figure is about: all, or those of its one batch size."""
    return figures.at_batch(ctx["ok"], ctx["batch_size"])[0] if spec.one_batch else ctx["ok"]


def _write_one(spec: Spec, size: str, ctx: dict, out: Path, formats, source: dict) -> dict:
    fig, drawn = render(spec, size, ctx)
    problems = checks.problems(fig)
    stem = f"{spec.name}-{size}"
    names = []
    for fmt in formats:
        fig.savefig(out / f"{stem}.{fmt}", **save_kwargs(fmt))
        names.append(f"{stem}.{fmt}")
    omitted = ctx["omitted"] + (left_out.missing_values(_scope(spec, ctx), drawn, spec.values) if spec.values else [])
    card = prov.sidecar(spec.name, size, names, data.row_ids(drawn), source, list(spec.columns), spec.notes,
                        failed=ctx["failed"], omitted=omitted, problems=problems)
    prov.write_json(out / f"{stem}.json", card)
    return {"kind": "figure", "figure": spec.name, "size": size, "files": [str(out / n) for n in names],
            "sidecar": str(out / f"{stem}.json"), "problems": problems, "skipped": None}


def write_tables(df: pd.DataFrame, out_dir, columns=None) -> dict:
    """results.tex (a float with caption, label, booktabs, footnote) and results.md of
    tables.results_table(df, columns=columns); without ``columns``, results.tex has the compact set
    (knobs, latency, throughput, energy, accuracy: it must fit a page) and results.md every column.
    Returns the table entry."""
    out = Path(out_dir)
    table = tables.results_table(df, columns=columns)
    if table.empty:
        return {"kind": "table", "figure": "results", "skipped": "no measured rows for the results table"}
    paths = [out / "results.tex", out / "results.md"]
    tex = table if columns is not None else tables.results_table(df, compact=True)
    paths[0].write_text(tables.to_latex(tex), encoding="utf-8")
    paths[1].write_text(tables.to_markdown(table), encoding="utf-8")
    return {"kind": "table", "figure": "results", "files": [str(p) for p in paths], "skipped": None}


def write_index(out: Path, entries: list[dict], failed: list[dict] = (), omitted: list[dict] = ()) -> None:
    """index.json and index.md: what was written (file names), what was skipped (with reasons), the
    configurations that failed and the rows left out of every figure (a looser budget's)."""
    written = [{"figure": e["figure"], "kind": e["kind"], "size": e.get("size"),
                "files": [Path(f).name for f in e["files"]],
                "sidecar": Path(e["sidecar"]).name if e.get("sidecar") else None}
               for e in entries if not e["skipped"]]
    skipped = [{"figure": e["figure"], "kind": e["kind"], "reason": e["skipped"]} for e in entries if e["skipped"]]
    prov.write_json(out / "index.json", {"written": written, "skipped": skipped, "failed": list(failed),
                                         "omitted": list(omitted)})
    lines = ["# Figures and tables", "", "| figure | size | files | sidecar |", "|:---|:---|:---|:---|"]
    lines += [f"| {w['figure']} | {w['size'] or '–'} | {', '.join(w['files'])} | {w['sidecar'] or '–'} |"
              for w in written]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- **{s['figure']}**: {s['reason']}" for s in skipped]
    if failed:
        lines += ["", "## Failed configurations (in no figure or table)", ""]
        lines += [f"- {f['config']}: {f['error']} ({f['repeats_failed']} failed, {f['repeats_measured']} measured)"
                  for f in failed]
    if omitted:
        lines += ["", "## Left out", ""] + [f"- {o['config']}: {o['reason']}" for o in omitted]
    (out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
