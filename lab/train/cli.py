"""``python -m lab train``: train to a target accuracy over the product of the knob lists, seeds and
repeats; a progress line per epoch on stderr, each row as a table line on stdout as it is ready, then
the spread across seeds (median [min–max] of time and energy to accuracy). Rows are stored (kind
"training") unless --no-store; a rerun trains only what the store cannot serve.

lab/cli.py registers it:

    train_cli.add_parser(sub)                       # in build_parser()
    "train": train_cli.cmd_train                    # in main()'s dispatch

Bad input is a FieldError (one line, exit status 2, from lab/cli.py's main).
"""
from __future__ import annotations

import argparse

from lab.cli_args import add_knob_flag, add_store_flags, chosen_store, given_knobs
from lab.train.config import KNOBS

EXIT_SOME_FAILED = 1
ROW_COLUMNS = ("reached", "tta_s", "eta_j", "best_accuracy", "epochs", "seconds", "energy_j", "energy_source",
               "contended", "error")

_EPILOG = """\
Each knob flag takes one or more values (space- or comma-separated); every combination is trained:

  python -m lab train --model digits-cnn --label-noise 0 0.2 --target-accuracy 0.95 --seeds 0 1 2

time to accuracy (tta_s) and energy to accuracy (eta_j) run from the start of training to the end of the
first held-out evaluation at or above the target, evaluations included (Zeus's definition). A run that
never reaches it within --time-budget-s or --max-epochs says reached=False, with its best accuracy and
what it cost. Exit status: 0 all trained, 1 some runs failed (stored with their error), 2 bad input."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to ``subparsers`` (lab/cli.py's ``sub``); returns its parser."""
    train = subparsers.add_parser("train", help="train to a target accuracy: time and energy to accuracy, stored",
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  description=__doc__.split("\n\n")[0], epilog=_EPILOG)
    for name, spec in KNOBS.items():
        shown = {"threads": "every core", "batch_size": "the recipe's", "lr": "the recipe's"}.get(name, spec.default)
        default = "" if spec.required else f" (default {shown})"
        add_knob_flag(train, spec, f"{spec.help}; {spec.allowed()}{default}", *(["--seeds"] if name == "seed" else []),
                      nargs="+", required=spec.required)
    train.add_argument("--repeats", type=int, default=1, help="rows per configuration (default 1; seeds are "
                                                              "the better spread: each reorders and reinitializes)")
    train.add_argument("--format", choices=("table", "json"), default="table",
                       help="table (default) or json (one JSON object per row, the curve included)")
    add_store_flags(train, verb="train", force_help="train again configurations the store already holds")
    return train


def _progress_line(config, point: dict) -> str:
    flag = "  contended" if point.get("contended") else ""
    return (f"{config.model} noise {config.label_noise:g} kept {config.data_kept:g} seed {config.seed}: "
            f"epoch {point['epoch']}  accuracy {point['accuracy']:.3f}  {point['seconds']:.1f} s  "
            f"{point['energy_j']:.1f} J{flag}")


def row_printer(format: str, out, configs):
    """A function printing one training row at a time: a table line with the varying knobs, the seed and
    the results ('table'), or one JSON object with every column, the curve included ('json')."""
    import json

    from lab.cli_output import TablePrinter, write
    from lab.train.summary import varying

    if format == "json":
        return lambda row: write(out, json.dumps(row, default=str))
    shown = varying([c.to_dict() for c in configs]) or ["model"]
    stand_ins = [{**c.to_dict(), "tta_s": 1.0, "eta_j": 1.0} for c in configs]
    printer = TablePrinter([*dict.fromkeys([*shown, "seed"]), *ROW_COLUMNS], out, stand_ins)
    return lambda row: printer({**row, "contended": "yes" if row.get("contended") else "no"})


def cmd_train(args, out, err) -> int:
    from lab.cli_output import TablePrinter, write
    from lab.train.bench import TrainBench
    from lab.train.config import grid
    from lab.train.summary import format_range, spread, varying

    configs = grid(**given_knobs(args, KNOBS))
    bench = TrainBench(chosen_store(args))
    printer = row_printer(args.format, out, configs)
    rows = []

    def on_row(row):
        rows.append(row)
        printer(row)

    bench.rows(configs, repeats=args.repeats, force=args.force, on_row=on_row,
               on_epoch=lambda config, point: write(err, _progress_line(config, point)))
    reused = sum(bool(r.get("from_store")) for r in rows)
    if reused:
        write(err, f"{reused} of {len(rows)} rows came from {bench.store.path} (--force trains again)")
    if args.format == "table" and len(rows) > 1:
        write(out, "")
        write(out, "spread across seeds and repeats: median [min–max] over the runs that reached the target")
        lines = spread(rows)
        keys = varying(lines) or ["model"]
        table = [{**{k: line[k] for k in keys}, "reached": line["reached"], "tta_s": format_range(line, "tta_s"),
                  "eta_j": format_range(line, "eta_j"), "best_accuracy": format_range(line, "best_accuracy"),
                  "contended": line["contended"]} for line in lines]
        summary = TablePrinter([*keys, "reached", "tta_s", "eta_j", "best_accuracy", "contended"], out, table)
        for line in table:
            summary(line)
    failed = sum(bool(r.get("error")) for r in rows)
    if failed:
        write(err, f"{failed} of {len(rows)} runs failed; see the error column")
        return EXIT_SOME_FAILED
    return 0
