"""``python -m lab``: env, models, run, sweep, export, figures (in lab/paper/cli.py), data (in lab/data/cli.py),
train (in lab/train/cli.py), notebooks (in lab/notebook_runner.py).

Every command takes ``--import MODULE_OR_PATH`` (repeatable): the user's code that registers
models runs before the arguments are checked, so ``--model my-net`` is known to every command.

Bad input is one line on stderr naming the field, the value and what is
allowed, and exit status 2 — never a traceback. ``run`` exits 1 when some
configurations failed while measuring (their rows, with ``error``, are stored
and printed like the others) and 0 when all were measured.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import warnings

from lab import hardware, notebook_runner
from lab.cli_args import STORE_HELP, add_knob_flag, add_store_flags, chosen_store
from lab.cli_output import TablePrinter, print_device, row_printer
from lab.cluster import cli as cluster_cli
from lab.config import KNOBS
from lab.data import cli as data_cli
from lab.paper import cli as paper_cli
from lab.train import cli as train_cli

EXIT_BAD_INPUT = 2
EXIT_SOME_FAILED = 1


class BadInput(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise BadInput(message)


def add_knob_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per knob (lab.config.KNOBS), each taking a comma list; help, type and default from the knob."""
    for name, spec in KNOBS.items():
        # Not given stays None: lab.grid fills the knob's default, and can tell a knob that was not
        # given (--prune unstructured without --sparsity is refused there) from one that was.
        shown = {"threads": f"all {hardware.cpu_count()} cores", "compile": "off"}.get(name, spec.default)
        extra = f" (this machine: {', '.join(hardware.available_devices())})" if name == "device" else ""
        help_text = f"{spec.help}{extra}; {spec.allowed()}" + ("" if spec.required else f" (default {shown})")
        add_knob_flag(parser, spec, help_text, required=spec.required)


_SWEEP_EPILOG = """\
A study file is TOML (full example: examples/study.toml):

  name = "digits-precision"       # required
  setup = "my_models:register"    # optional: registers your own models ("my_models.py": beside the file)
  cluster = "auto"                # optional: a Ray cluster (auto, host:port, ray://host:port)
  device = "cpu"                  # or a list; default "cpu"; "<node>/<device>" or "all" with a cluster
  repeats = 3                     # rows per configuration, 1..100; default 1
  seeds = [0]                     # the seed knob; default [0]
  budget = "quick"                # "default" or "quick"; default "default"
  [grid]                          # required: any knob except device and seed
  model = ["digits-mlp"]
  batch_size = [1, 16, 64]
  quant = ["fp32", "bf16"]
  [quality]                       # optional: the quality budget
  max_drop = 0.01                 # baseline = { quant = "fp32" } (default fp32, unpruned, width 1)
  [sensitivity]                   # optional: per-layer pruning sensitivity scan
  models = ["digits-cnn"]

A rerun measures only what the store cannot serve: missing repeats, failed
configurations, rows measured by older measuring code or while the machine was busy.
Exit status: 0 all measured, 1 some configurations failed, 2 bad input."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lab", description="Efficiency Lab: measure what a model costs to run.",
                     epilog="Exit status: 0 all measured, 1 some configurations failed (stored with their error), "
                            "2 bad input.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    env = sub.add_parser("env", help="devices, threads, CPU model, torch version, energy source per device")
    env.add_argument("--format", choices=("table", "json"), default="table")
    env.add_argument("--ceilings", action="store_true",
                     help="also each device's roofline ceilings at its default threads: matmul GFLOP/s per "
                          "precision and copy bandwidth (measured once, a few seconds, then read from the store)")
    env.add_argument("--remeasure", action="store_true",
                     help="with --ceilings: measure them again and replace the stored ones (do it on a quiet "
                          "machine: ceilings measured under load read low)")
    env.add_argument("--store", default=None, help="results store for the ceilings (default: $LAB_STORE or "
                                                   "data/results/lab.sqlite)")

    models = sub.add_parser("models", help="built-in models with params, task and quality metric")
    models.add_argument("--format", choices=("table", "json"), default="table")
    models.add_argument("--schemes", action="store_true",
                        help="list the quantization schemes and pruning methods instead: the devices each runs on, "
                             "what it does, and (pruning) what its sparsity is a fraction of")

    run = sub.add_parser("run", help="measure the cartesian product of the knob lists and store every row",
                         description="Every knob flag takes a comma list; run measures every combination. "
                                     "Rows the store can serve (same configuration, environment, measuring code "
                                     "and model; a budget at least as strict; no error; not contended) are shown, "
                                     "not re-measured, unless --force.")
    add_knob_flags(run)
    run.add_argument("--format", choices=("table", "json", "csv"), default="table",
                     help="table (default), json (one JSON object per line) or csv; json/csv carry every column")
    add_store_flags(run)
    run.add_argument("--quick", action="store_true",
                     help="short timing and energy windows (interactive use; less precise)")
    run.add_argument("--idle-baseline", dest="idle_baseline_s", type=float, default=0.0, metavar="SECONDS",
                     help="measure idle power for SECONDS before each energy window and subtract it "
                          "(recorded as idle_power_w; default 0 = no baseline)")

    sweep = sub.add_parser("sweep", help="measure a study file (TOML) into the store and write its manifest",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Measure every configuration x repeat of a study file that this environment's\n"
                                       "store lacks (a killed sweep resumes), then write manifest.json and rows.jsonl\n"
                                       "into the study's results directory.",
                           epilog=_SWEEP_EPILOG)
    sweep.add_argument("study", help="the study file, e.g. examples/study.toml")
    sweep.add_argument("--store", default=None, help=STORE_HELP)
    sweep.add_argument("--out", default=None,
                       help="results directory (default: beside the study file, named after it: a/b.toml -> a/b/)")
    sweep.add_argument("--force", action="store_true",
                       help="measure every repeat again (failed configurations are always retried)")
    sweep.add_argument("--format", choices=("table", "json", "csv"), default="table",
                       help="table (default), json (one JSON object per line) or csv; json/csv carry every column")

    export = sub.add_parser("export", help="write every stored row to parquet or csv")
    export.add_argument("--format", choices=("parquet", "csv"), default=None, help="default: from --out's suffix")
    export.add_argument("--out", required=True, help="output file, e.g. results.parquet")
    export.add_argument("--store", default=None, help=STORE_HELP)
    for command in (env, run, sweep):  # a Ray cluster's nodes as devices (lab/cluster/cli.py)
        cluster_cli.add_cluster_flag(command)
    paper_cli.add_parser(sub)
    data_cli.add_parser(sub)
    train_cli.add_parser(sub)
    notebook_runner.add_parser(sub)
    for command in [parser, *sub.choices.values()]:  # declared once, before or after any command
        add_import_flag(command)
    return parser


IMPORT_HELP = ("run your own code that registers models (lab.register_model) first: a module name, importable "
               "from the current directory, or path/to/file.py, optionally followed by :function to call; "
               "repeatable")


def add_import_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE_OR_PATH",
                        help=IMPORT_HELP)


def import_user_models(argv: list[str] | None) -> None:
    """Run every ``--import`` of ``argv`` before the full parse: the knob flags check model names
    against the registry while parsing, so the user's models must be registered by then."""
    from lab.models import registry

    early = _Parser(add_help=False)  # abbreviations as the full parser takes them
    add_import_flag(early)
    known, _ = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    for spec in known.imports:
        registry.import_models(spec)


def cmd_run(args, out, err) -> int:
    from tqdm import tqdm

    import lab

    knobs = {name: getattr(args, name) for name in KNOBS if getattr(args, name) is not None}
    cluster = cluster_cli.join(args)  # None unless --cluster / LAB_CLUSTER: then Ray, not before
    if "device" in knobs:  # --device all: every node's devices
        knobs["device"] = cluster_cli.devices(knobs["device"])
    configs = lab.grid(**knobs)
    budget = lab.Budget.named("quick" if args.quick else "default")
    if args.idle_baseline_s:
        budget = dataclasses.replace(budget, idle_baseline_s=args.idle_baseline_s)
    bench = lab.Bench(chosen_store(args), budget=budget, cluster=cluster)
    store = bench.store
    printer = row_printer(args.format, out, configs)
    bar = tqdm(total=len(configs), file=err, unit="config", disable=len(configs) < 2, dynamic_ncols=True)
    counts = {"failed": 0, "stored": 0}
    shown = []

    def on_row(row):
        shown.append(row)
        counts["failed"] += bool(row.get("error"))
        counts["stored"] += bool(row.get("from_store"))
        printer(row)

    try:
        bench.rows(configs, force=args.force, on_row=on_row, progress=lambda done, total: bar.update(done - bar.n))
    finally:
        bar.close()
    if cluster_cli.wants_comparison(args.device) and args.format == "table":
        import pandas as pd

        from lab.cluster.compare import print_comparison

        print_comparison(pd.DataFrame(shown), out)
    if counts["stored"]:
        print(f"{counts['stored']} of {len(configs)} configurations were already in {store.path}; "
              "shown from the store (--force re-measures)", file=err)
    if counts["failed"]:
        print(f"{counts['failed']} of {len(configs)} configurations failed; see the error column", file=err)
        return EXIT_SOME_FAILED
    return 0


def cmd_sweep(args, out, err) -> int:
    from tqdm import tqdm

    from lab import study as studies
    from lab.bench import DEFAULT_STORE, Bench

    study = studies.load(args.study, results_dir=args.out)  # bad input: one line, before anything is measured
    study.check()  # a study may load without its models registered (figures reads it); measuring needs them
    # --cluster, then the study's `cluster = "..."`, then LAB_CLUSTER: join() reads both --cluster and
    # LAB_CLUSTER, so it is asked only when the flag is given or the study names no cluster.
    cluster = cluster_cli.join(args) if args.cluster or not study.cluster else None
    bench = Bench(args.store or DEFAULT_STORE, budget=study.budget, cluster=cluster or study.cluster)
    store = bench.store
    printer = (train_cli.row_printer if study.kind == "training" else row_printer)(args.format, out, study.configs())
    total = len(study.configs()) * study.repeats
    bar = tqdm(total=total, file=err, unit="row", disable=total < 2, dynamic_ncols=True)

    def progress(done, _total):
        bar.update(done - bar.n)

    try:
        manifest = studies.run(study, bench=bench, force=args.force, on_row=printer, progress=progress)
    finally:
        bar.close()
    entries = manifest["configs"]
    measured, reused = sum(e["measured"] for e in entries), sum(e["reused"] for e in entries)
    failed = sum(1 for e in entries if e["failed"])
    print(f"{measured} rows measured, {reused} reused from {store.path}", file=err)
    if failed:
        print(f"{failed} of {len(entries)} configurations failed; see the error column "
              "(a rerun tries them again)", file=err)
    print(f"manifest: {study.results_dir / studies.MANIFEST}", file=err)
    return EXIT_SOME_FAILED if failed else 0


def cmd_env(args, out, err) -> int:
    cluster = cluster_cli.join(args)
    if cluster is not None:  # every node of the cluster, as below for this machine
        return cluster_cli.cmd_env(cluster, args, out)
    from lab.measure import energy  # here, only by env: a command that measures chooses its own source

    info = energy.describe_with_energy()
    for dev in info["devices"]:
        if args.ceilings:
            dev["ceilings"] = _ceilings(dev, args.store, args.remeasure)
    if args.format == "json":
        print(json.dumps(info, indent=2), file=out)
        return 0
    for key, value in info.items():
        if key != "devices":
            print(f"{key:<16} {value}", file=out)
    for dev in info["devices"]:
        print_device(dev, out)
    return 0


def _ceilings(dev: dict, store_path, remeasure: bool = False) -> dict:
    from lab import roofline
    from lab.store import Store

    threads = dev.get("default_threads", 1)
    env_id = hardware.environment(dev["device"])["env_id"]
    with hardware.torch_threads(threads):
        return roofline.ceilings(dev["device"], threads, store=Store(store_path), env_id=env_id, remeasure=remeasure)


def _schemes(args, out) -> int:
    from lab.transforms import layer_support, prune, quantize

    rows = [{"kind": "quant", "name": s.name, "devices": ",".join(s.device_types),
             "precision": s.compute_precision + (f" ({s.compiled_precision} compiled)" if s.compiled_precision else ""),
             "bytes_per_weight": s.bytes_per_weight, "what": s.description} for s in quantize.SCHEMES.values()]
    rows += [{"kind": "prune_method", "name": m.name, "devices": ",".join(m.device_types), "precision": "",
              "bytes_per_weight": None, "what": m.description + (f"; sparsity = {m.sparsity_means}"
                                                                if m.sparsity_means else "")}
             for m in prune.METHODS.values()]
    support = {(r["kind"], r["name"]): r for r in layer_support.rows()}  # the layer types each acts on
    for row in rows:
        row.update(layers=support[row["kind"], row["name"]]["layers"], leaves=support[row["kind"], row["name"]]["leaves"])
    if args.format == "json":
        print(json.dumps(rows, indent=2), file=out)
        return 0
    printer = TablePrinter(["kind", "name", "devices", "precision", "bytes_per_weight", "layers", "what"], out, rows)
    for row in rows:
        printer(row)
    return 0


def cmd_models(args, out, err) -> int:
    from lab.models import registry

    if args.schemes:
        return _schemes(args, out)
    rows = []
    for name in registry.names():
        spec = registry.get(name)
        model = spec.build()
        rows.append({"model": name, "task": spec.task, "metric": spec.metric,
                     "params": sum(p.numel() for p in model.parameters()),
                     "recorded_quality": spec.recorded_quality, "description": spec.description})
    if args.format == "json":
        print(json.dumps(rows, indent=2), file=out)
        return 0
    printer = TablePrinter(["model", "params", "metric", "recorded_quality", "task"], out, rows)
    for row in rows:
        printer(row)
    return 0


def cmd_export(args, out, err) -> int:
    from lab.store import Store, export_format

    export_format(args.out, args.format)  # a bad format is named before the store
    store = Store(args.store, create=False)  # nothing to export from a store that isn't there
    path = store.export(args.out, args.format)
    print(f"wrote {len(store)} rows from {store.path} to {path}", file=out)
    return 0


def _one_line_warnings(err, show_other):
    """The lab's own warnings (a transform that touched under half the model) as one line each,
    once per distinct message, on ``err``; anything else as Python shows it."""
    from lab.transforms.touched import CoverageWarning

    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, CoverageWarning):
            return show_other(message, category, filename, lineno, file, line)
        if str(message) not in seen:
            from tqdm import tqdm

            seen.add(str(message))
            tqdm.write(f"warning: {message}", file=err)  # above a progress bar, not glued to it
    return show


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        import_user_models(argv)
        try:
            with contextlib.redirect_stdout(out):  # --help goes to `out` like everything else
                args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help
            return int(done.code or 0)
        commands = {"run": cmd_run, "sweep": cmd_sweep, "env": cmd_env, "models": cmd_models, "export": cmd_export,
                    "figures": paper_cli.cmd_figures, "data": data_cli.cmd_data,
                    "train": train_cli.cmd_train, "notebooks": notebook_runner.cmd_notebooks}
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(err, warnings.showwarning)
            return commands[args.command](args, out, err)
    except ValueError as exc:  # BadInput and every validation error: one line, no traceback
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=err)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: rows measured so far are in the store; run again to resume", file=err)
        return 130
    except BrokenPipeError:  # `python -m lab run ... | head`: the reader left; rows are stored already
        # Point stdout at devnull so the interpreter's final flush doesn't raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
