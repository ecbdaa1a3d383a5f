"""``python -m lab data``: measure DataLoader configurations, print a table, store every row.

    python -m lab data --dataset mnist1d --num-workers 0 1 2 --sample-cost-ms 0.2 --model mnist1d-cnn

lab/cli.py registers it, as lab/paper/cli.py:

    data_cli.add_parser(sub)                       # in build_parser()
    "data": data_cli.cmd_data                      # in main()'s dispatch

Every knob flag (lab.data.config.KNOBS) takes one or more values, space- or comma-separated;
the command measures their cartesian product. Bad input is one line and exit status 2 (lab/cli.py's
parser class raises it); exit 1 when some configurations failed (stored with their error).
"""
from __future__ import annotations

import argparse

from lab.cli_args import add_knob_flag, add_store_flags, chosen_store, given_knobs
from lab.data.config import KNOBS
from lab.data.measure import BUDGETS

EXIT_SOME_FAILED = 1
TABLE = ("dataset", "storage", "num_workers", "batch_size", "sample_cost_ms", "model", "step", "startup_s",
         "loader_sps", "model_sps", "pipeline_sps", "stall_frac", "cpu_util_frac", "energy_mj_per_sample",
         "energy_source", "contended", "error")

_EPILOG = """\
Columns: loader_sps (samples/s of the loader alone), model_sps (the model alone on synthetic
batches of the same shape), pipeline_sps (the two together: the real loop), stall_frac (measured
share of the loop's time spent waiting inside next(iterator)), startup_s (iterator to first batch:
worker start-up), cpu_util_frac (CPU time of this process and its workers / (time x cores)),
energy_mj_per_sample (with energy_source). Files and array storage are generated under
data/generated/ on first use (python -m lab.data.generate sizes them).
Exit status: 0 all measured, 1 some configurations failed (stored with their error), 2 bad input."""


def quick_help() -> str:
    """--quick's help, from the budgets themselves (lab.data.measure.BUDGETS) so it cannot drift from them."""
    return (f"{BUDGETS['quick'].phase_s:g} s per loop instead of {BUDGETS['default'].phase_s:g} s "
            f"(rows say budget quick)")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("data", help="measure DataLoader throughput, stall fraction, CPU and energy per sample",
                            description="Measure the cartesian product of the knob values: the loader alone, "
                                        "the model alone, and the two together.", epilog=_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, spec in KNOBS.items():
        default = "all cores" if name == "threads" else "unset" if spec.default is None else spec.default
        add_knob_flag(parser, spec, f"{spec.help}; {spec.allowed()} (default {default})", nargs="+")
    parser.add_argument("--repeats", type=int, default=1, help="rows per configuration (default 1)")
    parser.add_argument("--quick", action="store_true", help=quick_help())
    parser.add_argument("--format", choices=("table", "json"), default="table")
    add_store_flags(parser)
    return parser


def cmd_data(args, out, err) -> int:
    from lab.cli_output import TablePrinter, json_printer
    from lab.data.bench import LoaderBench
    from lab.data.config import grid
    from lab.errors import FieldError

    if args.repeats < 1:
        raise FieldError("repeats", args.repeats, "a whole number of at least 1")
    configs = grid(**given_knobs(args, KNOBS))
    bench = LoaderBench(chosen_store(args), budget="quick" if args.quick else "default")
    if args.format == "json":
        printer = json_printer(out)
    else:
        printer = TablePrinter(TABLE, out, rows=[c.to_dict() for c in configs],
                               numeric=[c for c in TABLE if c not in ("dataset", "storage", "model", "step",
                                                                      "energy_source", "contended", "error")])
    counts = {"failed": 0, "stored": 0}

    def on_row(row):
        counts["failed"] += bool(row.get("error"))
        counts["stored"] += bool(row.get("from_store"))
        printer(row)

    bench.rows(configs, repeats=args.repeats, on_row=on_row, force=args.force)
    if counts["stored"]:
        print(f"{counts['stored']} rows came from {bench.store.path} (--force re-measures)", file=err)
    if counts["failed"]:
        print(f"{counts['failed']} rows failed; see the error column", file=err)
        return EXIT_SOME_FAILED
    return 0
