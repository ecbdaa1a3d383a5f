"""``python -m lab notebooks``: run the workshop notebooks headless, top to bottom, and print how long
each took. An instructor runs it on the workshop's laptops before the day: it checks every notebook
runs there, and fills the store, so that on the day a notebook reads its rows back at once.

Why not ``jupyter nbconvert --execute``: nbconvert runs notebooks with nbclient, which mimics a
front end's Output widget (``widgets.interact`` draws into one) by sending a comm message to the kernel
on the shell channel, from the coroutine that reads IOPub, while another awaits the cell's
execute_reply on that same channel. Now and then that reply is then only seen when the cell's
timeout ends (jupyter/nbclient#312, open): in 03 the cell after the mask slider waited out the whole
timeout while the kernel sat idle (the first run in a fresh process: 2 of 2 with the mimic, 0 of 5
without). ``HeadlessClient`` is nbclient without the mimic; the widget's
outputs then land in the cell's own outputs.

The notebooks on disk are not changed (they are committed without outputs); ``--out`` keeps the
executed copies.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lab.errors import FieldError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXIT_SOME_FAILED = 1


def headless_client(nb, **options):
    """An nbclient NotebookClient for ``nb`` that does not mimic the Output widget (see the module
    docstring); ``options`` go to NotebookClient (timeout in seconds per cell, kernel_name, ...)."""
    from nbclient import NotebookClient

    class HeadlessClient(NotebookClient):
        def on_comm_open_jupyter_widget(self, msg):
            return None

    return HeadlessClient(nb, **options)


def find(names: list[str]) -> list[Path]:
    """The notebooks named (``03``, ``03_pruning`` or ``03_pruning.ipynb``), all of them if none."""
    every = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        found = [p for p in every if p.name == name or p.stem == name or p.stem.split("_")[0] == name]
        if not found:
            raise FieldError("notebook", name, f"one of {', '.join(p.stem for p in every)} (a number like 03 is enough)")
        chosen += [p for p in found if p not in chosen]
    return chosen


def run_notebook(path: Path, *, timeout_s: int | None, out_dir: Path | None = None, env: dict | None = None) -> dict:
    """Run one notebook in a fresh kernel, whose environment is this process's with ``env`` over it.
    Returns {notebook, seconds (wall, kernel start included), cells_s (the cells' own run time),
    error (None, or 'cell N: Name: message')}."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = headless_client(nb, timeout=timeout_s, kernel_name="python3", record_timing=True,
                             resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute(env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None})
    except CellExecutionError as exc:
        error = _first_error(nb) or str(exc).strip().splitlines()[-1]
    except Exception as exc:  # noqa: BLE001 — a timeout, a dead kernel: one line, and the next notebook
        error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    seconds = time.perf_counter() - start
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return {"notebook": path.stem, "seconds": seconds, "cells_s": _cells_seconds(nb), "error": error}


def _first_error(nb) -> str | None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
    return None


def _cells_seconds(nb) -> float:
    """The sum of each cell's time from the kernel's busy to its idle (nbclient's record_timing)."""
    from datetime import datetime

    total = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.status.busy" in timing and "iopub.status.idle" in timing:
            busy, idle = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.status.busy", "iopub.status.idle"))
            total += (idle - busy).total_seconds()
    return total


_EPILOG = """\
Run it on the workshop's machines before the day, once: it checks that every notebook runs there, and
the rows it measures stay in the store, so on the day each notebook reads them back at once.

  python -m lab notebooks --smoke          # every notebook in smoke mode (2 min 8 s on a 2-core VM)
  python -m lab notebooks 03 04            # 03 and 04 in full mode

Exit status: 0 all ran, 1 some notebook failed (its first error is printed), 2 bad input."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``notebooks`` subcommand to ``subparsers`` (lab/cli.py's ``sub``)."""
    parser = subparsers.add_parser("notebooks", help="run the workshop notebooks headless and time each",
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   description=__doc__.split("\n\n")[0], epilog=_EPILOG)
    parser.add_argument("names", nargs="*", metavar="NOTEBOOK",
                        help="notebooks to run, e.g. 03 or 03_pruning (default: all, in order)")
    parser.add_argument("--smoke", action="store_true",
                        help="smoke mode (LAB_SMOKE=1: quick budget, few configurations), as the test suite runs them")
    parser.add_argument("--timeout", type=int, default=3600, metavar="SECONDS",
                        help="give up on a cell after this long (default 3600)")
    parser.add_argument("--store", default=None, help="results store the notebooks use (sets LAB_STORE; "
                                                      "default: $LAB_STORE or data/results/lab.sqlite)")
    parser.add_argument("--out", default=None, metavar="DIR", help="also write the executed notebooks here")
    return parser


def cmd_notebooks(args, out, err) -> int:
    if args.timeout < 1:
        raise FieldError("--timeout", args.timeout, "a number of seconds, at least 1")
    paths = find(args.names)
    env = {"LAB_SMOKE": "1" if args.smoke else None}  # None: unset in the kernel
    if args.store:
        env["LAB_STORE"] = str(Path(args.store).resolve())
    mode = "smoke" if args.smoke else "full"
    failed, total_s = 0, 0.0
    for path in paths:
        print(f"{path.stem}: running ({mode} mode)...", file=err, flush=True)
        result = run_notebook(path, timeout_s=args.timeout, out_dir=Path(args.out) if args.out else None, env=env)
        failed += result["error"] is not None
        total_s += result["seconds"]
        status = "ok" if result["error"] is None else f"FAILED at {result['error']}"
        print(f"{result['notebook']:<28} {mode:<5} {result['seconds']:7.1f} s  (cells {result['cells_s']:.1f} s)  "
              f"{status}", file=out, flush=True)
    if len(paths) > 1:
        print(f"{len(paths)} notebooks, {mode} mode: {total_s:.1f} s in all"
              f"{f'; {failed} failed' if failed else ''}", file=out, flush=True)
    return EXIT_SOME_FAILED if failed else 0
