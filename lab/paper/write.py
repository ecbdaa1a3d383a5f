"""Write every paper figure (PDF, SVG, 300-dpi PNG; single and double column), its sidecar JSON,
the results tables and an index of what was written and what was skipped (and why).

    entries = write_figures(df, "figures/", provenance={"query": q, "manifest": m, "study_file": p})

Files: ``<out>/<figure>-<size>.<fmt>`` and ``<out>/<figure>-<size>.json`` per figure and size;
``results.tex``, ``results.md``; ``index.json`` and ``index.md``. A figure whose columns are
missing is skipped with its reason, never an exception. Everything written is deterministic
for the same rows (fixed SVG salt, no dates, sorted JSON keys, relative file names).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
from matplotlib.figure import Figure

from lab import plots
from lab.paper import data, figures, provenance as prov, tables
from lab.paper.style import SIZES, figsize, paper_style, save_kwargs

FORMATS = ("pdf", "svg", "png")
BAND = "lines/points: median over repeats; bands/error bars: min-max over repeats"


@dataclass(frozen=True)
class Spec:
    name: str
    columns: tuple                      # the columns plotted (recorded in the sidecar)
    needs: Callable[[dict], str | None]  # ctx -> why it cannot be drawn, or None
    draw: Callable                      # (fig, ctx, vertical) -> rows drawn
    panels: Callable[[dict], int] = lambda ctx: 1
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


def _draw_sensitivity(fig, ctx, vertical):
    scans = {m: ctx["sensitivity"][m] for m in _sensitivity_models(ctx)}
    quality = plots.quality_label(ctx["ok"]) if not ctx["ok"].empty else None
    return figures.sensitivity_scan(scans, fig, quality=quality, vertical=vertical)


FIGURES = (
    Spec("latency-throughput", ("batch_size", "latency_ms_p50", "throughput_sps", "quant"),
         lambda ctx: _missing(ctx, "batch_size", "latency_ms_p50", "throughput_sps"),
         lambda fig, ctx, vertical: figures.batch_panels(ctx["ok"], fig, colour_of=ctx["colour_of"],
                                                         vertical=vertical),
         panels=lambda ctx: 2),
    Spec("accuracy-latency", ("latency_ms_p50", "accuracy", "batch_size", "quant"), _needs_at_batch("latency_ms_p50"),
         lambda fig, ctx, vertical: figures.accuracy_tradeoff(ctx["ok"], fig.subplots(), "latency_ms_p50",
                                                              colour_of=ctx["colour_of"], batch_size=ctx["batch_size"]),
         notes=BAND + "; one batch size; dashed: Pareto front of the medians"),
    Spec("accuracy-energy", ("energy_mj_per_sample", "accuracy", "energy_source", "batch_size", "quant"),
         _needs_at_batch("energy_mj_per_sample"),
         lambda fig, ctx, vertical: figures.accuracy_tradeoff(ctx["ok"], fig.subplots(), "energy_mj_per_sample",
                                                              colour_of=ctx["colour_of"], batch_size=ctx["batch_size"]),
         notes=BAND + "; one batch size; dashed: Pareto front of the medians"),
    Spec("energy-by-scheme", ("quant", "energy_mj_per_sample", "energy_source", "batch_size"), _needs_energy,
         lambda fig, ctx, vertical: figures.energy_by_scheme(ctx["ok"], fig.subplots(), colour_of=ctx["colour_of"],
                                                             batch_size=ctx["batch_size"]),
         notes=BAND + "; one batch size"),
    Spec("sensitivity", ("layer", "sparsity", "accuracy"), _needs_sensitivity, _draw_sensitivity,
         panels=lambda ctx: max(1, len(_sensitivity_models(ctx))), notes="one line per layer pruned alone"),
    Spec("roofline", figures.ROOFLINE_COLUMNS + ("quant",), _needs_roofline,
         lambda fig, ctx, vertical: figures.roofline(ctx["ok"], fig.subplots(), colour_of=ctx["colour_of"]),
         notes="lab.plots.roofline"),
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
                  tables_too: bool = True, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Write every figure in FIGURES for each size and format, with sidecars, tables and the index.

    provenance: {"query", "manifest", "study_file", ...} (lab_version and git_sha are filled in).
    sensitivity: model -> DataFrame(layer, sparsity, accuracy, ...) for the sensitivity figure.
    batch_size: the batch size of the one-batch figures (default: the smallest measured).
    progress: called with (done, total) after each figure and size.
    Returns one entry per figure and size written {"kind": "figure", "figure", "size", "files" (paths),
    "sidecar" (path), "skipped": None}, one per figure skipped {"kind": "figure", "figure", "skipped": reason},
    and the tables' entry {"kind": "table", "figure": "results", "files", "skipped"}.
    """
    sizes, formats = tuple(sizes), tuple(formats)
    _check(sizes, formats)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out_dir={out} cannot be written ({exc.strerror or exc}); give a writable directory") \
            from None
    ok = data.ok_rows(df)
    ctx = {"ok": ok, "colour_of": data.scheme_colours(ok), "batch_size": batch_size, "sensitivity": sensitivity}
    source = prov.complete(provenance)
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
        entries.append(write_tables(df, out))
    write_index(out, entries)
    return entries


def _write_one(spec: Spec, size: str, ctx: dict, out: Path, formats, source: dict) -> dict:
    fig = Figure(figsize=figsize(size, spec.panels(ctx)))
    drawn = spec.draw(fig, ctx, size == "single")
    stem = f"{spec.name}-{size}"
    names = []
    for fmt in formats:
        fig.savefig(out / f"{stem}.{fmt}", **save_kwargs(fmt))
        names.append(f"{stem}.{fmt}")
    card = prov.sidecar(spec.name, size, names, data.row_ids(drawn), source, list(spec.columns), spec.notes)
    prov.write_json(out / f"{stem}.json", card)
    return {"kind": "figure", "figure": spec.name, "size": size, "files": [str(out / n) for n in names],
            "sidecar": str(out / f"{stem}.json"), "skipped": None}


def write_tables(df: pd.DataFrame, out_dir) -> dict:
    """results.tex (booktabs) and results.md of tables.results_table(df); returns the table entry."""
    out = Path(out_dir)
    table = tables.results_table(df)
    if table.empty:
        return {"kind": "table", "figure": "results", "skipped": "no measured rows for the results table"}
    paths = [out / "results.tex", out / "results.md"]
    paths[0].write_text(tables.to_latex(table), encoding="utf-8")
    paths[1].write_text(tables.to_markdown(table), encoding="utf-8")
    return {"kind": "table", "figure": "results", "files": [str(p) for p in paths], "skipped": None}


def write_index(out: Path, entries: list[dict]) -> None:
    """index.json and index.md: what was written (file names) and what was skipped, with reasons."""
    written = [{"figure": e["figure"], "kind": e["kind"], "size": e.get("size"),
                "files": [Path(f).name for f in e["files"]],
                "sidecar": Path(e["sidecar"]).name if e.get("sidecar") else None}
               for e in entries if not e["skipped"]]
    skipped = [{"figure": e["figure"], "kind": e["kind"], "reason": e["skipped"]} for e in entries if e["skipped"]]
    prov.write_json(out / "index.json", {"written": written, "skipped": skipped})
    lines = ["# Figures and tables", "", "| figure | size | files | sidecar |", "|:---|:---|:---|:---|"]
    lines += [f"| {w['figure']} | {w['size'] or '–'} | {', '.join(w['files'])} | {w['sidecar'] or '–'} |"
              for w in written]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- **{s['figure']}**: {s['reason']}" for s in skipped]
    (out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
