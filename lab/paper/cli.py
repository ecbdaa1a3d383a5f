"""``python -m lab figures``: publication figures and tables from a study's results or from the store.

lab/cli.py registers it:

    paper_cli.add_parser(sub)                       # in build_parser()
    "figures": paper_cli.cmd_figures                # in main()'s dispatch

Bad input (no rows match, a bad query, missing results, an unwritable --out) is
one line on ``err`` and exit status 2, as everywhere in lab/cli.py.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

EXIT_BAD_INPUT = 2
SIZES = {"single": ("single",), "double": ("double",), "both": ("single", "double")}
EXAMPLE_QUERY = "model == 'digits-mlp' and quant != 'fp16'"

_EPILOG = f"""\
Rows come from a study's results (after `python -m lab sweep STUDY.toml`) or from the store:

  python -m lab figures examples/study.toml --out figures/
  python -m lab figures --store data/results/lab.sqlite --query "{EXAMPLE_QUERY}" --out figures/

Written to --out, for each size (single: 3.5 in wide; double: 7.0 in wide) and format:
  latency-throughput-SIZE   latency (ms) and throughput (samples/s) against batch size
  accuracy-latency-SIZE     quality against latency at one batch size, Pareto front dashed
  accuracy-energy-SIZE      quality against energy per sample (mJ), Pareto front dashed
  energy-by-scheme-SIZE     energy per sample (mJ) per quant scheme
  sensitivity-SIZE          pruning sensitivity scan (study with a [sensitivity] section)
  roofline-SIZE             achieved GFLOP/s against FLOP/byte (rows with roofline columns)
  eta-tta-SIZE              training rows (python -m lab train, kind = "training" studies): energy
                            against time to accuracy, median over seeds, min-max error bars, Pareto front
  accuracy-energy-curves-SIZE  training rows: each run's held-out accuracy against energy (J)
each with a sidecar SIZE.json (query, row ids, study manifest, lab version, git sha, and the
failed or left-out configurations); results.tex (a table float: short caption, \\label{{tab:results}},
booktabs, footnote of what failed; --columns picks its columns) and results.md; index.json /
index.md list what was written and what was skipped and why. Lines are medians over repeats;
bands span min..max of repeats; fp32 and no pruning come first. Rows of two budgets (default,
quick) are never pooled: the stricter budget's rows are drawn. The same rows give the same
bytes, whichever --format subset is asked for.

Exit status: 0 written, 2 bad input."""


def _formats(text: str) -> list[str]:
    from lab.paper.write import FORMATS

    values = [part.strip().lower() for part in text.split(",") if part.strip()]
    bad = [v for v in values if v not in FORMATS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: a comma list of {', '.join(FORMATS)}")
    return list(dict.fromkeys(values))


def _columns(text: str) -> list[str]:
    from lab.paper.tables import check_columns

    try:
        return check_columns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``figures`` subcommand to ``subparsers`` (lab/cli.py's ``sub``); returns its parser."""
    figures = subparsers.add_parser(
        "figures", help="publication figures (PDF, SVG, PNG), sidecars and LaTeX/Markdown tables",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw the paper figures and the main-results table from a study's results "
                    "(STUDY.toml) or from the store (--store, optionally filtered with --query).",
        epilog=_EPILOG)
    figures.add_argument("study", nargs="?", default=None, help="study file, e.g. examples/study.toml")
    figures.add_argument("--results", default=None,
                         help="the study's results directory (default: beside the study file, named after it)")
    figures.add_argument("--store", default=None,
                         help="read rows from this results store instead of a study (e.g. data/results/lab.sqlite)")
    figures.add_argument("--query", default=None,
                         help=f"pandas DataFrame.query filter on the rows, e.g. \"{EXAMPLE_QUERY}\"; a column "
                              "only one kind of row has (quant: inference, label_noise: training) keeps none "
                              "of the other kind")
    figures.add_argument("--out", required=True, help="directory for the figures and tables (created)")
    figures.add_argument("--size", choices=tuple(SIZES), default="both",
                         help="single (3.5 in), double (7.0 in) or both (default)")
    figures.add_argument("--format", dest="formats", type=_formats, default=["pdf", "svg", "png"],
                         help="comma list of pdf, svg, png (default all; PNG at 300 dpi)")
    figures.add_argument("--batch", dest="batch_size", type=int, default=None,
                         help="batch size of the one-batch figures (default: the smallest measured)")
    figures.add_argument("--columns", type=_columns, default=None,
                         help="the results table's columns, a comma list of row columns, e.g. "
                              "model,quant,latency_ms_p50,accuracy (default: results.tex the compact set "
                              "of the knobs, latency, throughput, energy and accuracy; results.md every column)")
    return figures


class _Bad(ValueError):
    pass


def _rows_from_study(args):
    from lab.paper.data import from_study

    return from_study(args.study, args.results)


def _rows_from_store(args):
    from lab.store import Store

    path = Path(args.store).expanduser()
    if not path.is_file():  # Store() would create an empty store: say so instead
        raise _Bad(f"store={args.store} does not exist; give an existing results store (python -m lab run ...)")
    return Store(path).dataframe(), {"manifest": None, "study_file": None, "store": str(args.store)}, None


def _filter(df, query: str | None):
    if not query:
        return df
    try:
        return df.query(query, engine="python")
    except Exception as exc:  # noqa: BLE001 — SyntaxError, NameError, TypeError...: all one bad-input line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Bad(f"--query {query!r} is not a valid pandas query ({reason}); "
                   f"e.g. \"{EXAMPLE_QUERY}\" (columns: {', '.join(map(str, df.columns[:10]))}, ...)") from None


def _writable(out: str) -> Path:
    path = Path(out).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise _Bad(f"--out {out} cannot be written ({exc.strerror or exc}); give a writable directory") from None
    return path


def cmd_figures(args, out, err) -> int:
    """Write the figures, sidecars, tables and index; print the written files on ``out``.
    0 when written, 2 with one line on ``err`` for bad input."""
    try:
        return _figures(args, out, err)
    except ValueError as exc:  # _Bad and lab.study's one-line errors
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=err)
        return EXIT_BAD_INPUT


def _say_what_is_left_out(target: Path, err) -> None:
    """One line each for failed configurations and rows of a looser budget (from index.json)."""
    import json

    index = json.loads((target / "index.json").read_text(encoding="utf-8"))
    if index.get("failed"):
        names = "; ".join(f"{f['config']} ({f['error']})" for f in index["failed"])
        print(f"note: {len(index['failed'])} configuration(s) failed and are in no figure or table: {names} "
              f"(listed in every sidecar, the table's footnote and index.md)", file=err)
    if index.get("omitted"):
        print(f"note: {len(index['omitted'])} configuration(s) measured with more than one budget: only the "
              f"stricter budget's rows are drawn (budgets are never pooled); see index.md", file=err)


def _filter_kinds(trained, rest, query: str | None):
    """(training rows, other rows) that ``query`` keeps. Each kind is queried with the other's columns
    added (NaN there): a query on a column only one kind has (quant; target_accuracy) keeps none of the
    other kind's rows instead of failing the command. A column neither kind has is still bad input."""
    if not query:
        return trained, rest
    columns = list(dict.fromkeys([*rest.columns, *trained.columns]))

    def kept(df):
        return df.loc[_filter(df.reindex(columns=columns), query).index] if len(df) else df

    return kept(trained), kept(rest)


def _training_figures(args, trained, provenance: dict, target: Path, out) -> tuple[list[dict], list[dict]]:
    """ETA against TTA and the accuracy-energy curves of the training rows (none: nothing written);
    the files are printed on ``out``. (entries, failed configurations), for the one index."""
    from lab.paper import training

    if not len(trained):
        return [], []
    entries = training.write_figures(trained, target, provenance=provenance, sizes=SIZES[args.size],
                                     formats=args.formats)
    for entry in entries:
        for name in entry.get("files", []) + ([entry["sidecar"]] if entry.get("sidecar") else []):
            print(name, file=out)
    return entries, training.failed_rows(trained)


def _figures(args, out, err) -> int:
    from tqdm import tqdm

    from lab.paper import training, write

    if args.study and args.store:
        raise _Bad("give a study file or --store, not both")
    if not args.study and not args.store:
        raise _Bad("give a study file (python -m lab figures STUDY.toml --out DIR) or --store PATH")
    df, provenance, sensitivity = _rows_from_study(args) if args.study else _rows_from_store(args)
    trained, df = training.split(df, args.store)  # training rows get their own figures (lab.paper.training)
    if len(df) == 0 and len(trained) == 0:
        where = f"study={args.study}" if args.study else f"store={args.store}"
        raise _Bad(f"{where} holds no rows; measure first (python -m lab sweep / python -m lab run)")
    trained, df = _filter_kinds(trained, df, args.query)
    if len(df) == 0 and len(trained) == 0:
        raise _Bad(f"--query {args.query!r} matches no rows; e.g. \"{EXAMPLE_QUERY}\"")
    if len(df) and "error" in df and df["error"].notna().all():
        raise _Bad(f"all {len(df)} rows failed (see their error column); nothing to draw")
    target = _writable(args.out)
    provenance["query"] = args.query
    trained_entries, trained_failed = _training_figures(args, trained, provenance, target, out)
    if len(df) == 0:  # training rows only
        write.write_index(target, trained_entries, trained_failed)
        _say_what_is_left_out(target, err)
        print(os.path.join(str(target), "index.md"), file=out)
        return 0
    sizes = SIZES[args.size]
    bar = tqdm(total=len(write.FIGURES) * len(sizes), file=err, unit="figure", disable=None, dynamic_ncols=True)
    try:
        entries = write.write_figures(df, target, provenance=provenance, sensitivity=sensitivity, sizes=sizes,
                                      formats=args.formats, batch_size=args.batch_size, columns=args.columns,
                                      progress=lambda done, total: bar.update(done - bar.n),
                                      also=trained_entries, also_failed=trained_failed)  # one index for both
    finally:
        bar.close()
    _say_what_is_left_out(target, err)
    for entry in entries:
        for problem in entry.get("problems") or ():
            print(f"warning: {entry['figure']}-{entry['size']}: {problem}", file=err)
        if entry["skipped"]:
            print(f"skipped {entry['figure']}{'-' + entry['size'] if entry.get('size') else ''}: "
                  f"{entry['skipped']}", file=err)
            continue
        for name in entry["files"] + ([entry["sidecar"]] if entry.get("sidecar") else []):
            print(name, file=out)
    print(os.path.join(str(target), "index.md"), file=out)
    return 0
