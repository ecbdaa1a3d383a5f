"""How ``python -m lab`` prints rows: a streamed fixed-width table, CSV or JSON lines (stdout), with the
progress bar on stderr left intact."""
from __future__ import annotations

import json
import math

from lab import columns
from lab.config import KNOBS


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


MIN_WIDTH = 9  # a number as format_value writes it: '7.868e+04', '0.0004539'
# Columns of the row table that hold text although they are not knobs; every other non-knob is a number.
_TEXT_COLUMNS = ("metric", "energy_source", "noisy", "error")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class TablePrinter:
    """Streams rows as a fixed-width table: the header once, then a line per row.

    Numbers are right-aligned under a right-aligned header, text left-aligned; the last column
    is not padded. Each column is as wide as its header, at least MIN_WIDTH, and as its widest
    cell among ``rows`` (the rows to print, or stand-ins such as the configurations about to be
    measured, which know the knob columns' values before any row is measured). ``numeric``: the
    right-aligned columns (default: those whose values among ``rows`` are all numbers)."""

    def __init__(self, cols, out, rows=None, numeric=None):
        rows = list(rows or ())
        self.cols, self.out, self.started = list(cols), out, False
        self.widths = [max([len(c), MIN_WIDTH] + [len(format_value(r.get(c))) for r in rows]) for c in self.cols]
        if numeric is None:
            numeric = [c for c in self.cols
                       if any(r.get(c) is not None for r in rows)
                       and all(_is_number(r.get(c)) for r in rows if r.get(c) is not None)]
        self.numeric = set(numeric)

    def __call__(self, row: dict):
        if not self.started:
            self.started = True
            self._line(self.cols)
        self._line([format_value(row.get(c)) for c in self.cols])

    def _line(self, cells):
        last = len(cells) - 1
        text = "  ".join(cell if i == last and col not in self.numeric
                         else cell.rjust(width) if col in self.numeric else cell.ljust(width)
                         for i, (col, cell, width) in enumerate(zip(self.cols, cells, self.widths)))
        write(self.out, text.rstrip())


def write(out, line: str):
    from tqdm import tqdm

    tqdm.write(line, file=out)  # keeps the stderr progress bar intact
    out.flush()


def csv_printer(out):
    import csv
    import io

    header = columns.ordered(list(columns.COLUMNS) + ["from_store", "id"])
    state = {"started": False}

    def emit(row):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        if not state["started"]:
            writer.writeheader()
            state["started"] = True
        writer.writerow({k: _csv_cell(row.get(k)) for k in header})
        write(out, buffer.getvalue().rstrip("\n"))
    return emit


def _csv_cell(value):
    return "" if value is None else value


def json_printer(out):
    return lambda row: write(out, json.dumps({k: row[k] for k in columns.ordered(row)}, default=str))


def row_printer(format: str, out, configs=()):
    """A function printing one row at a time in ``format`` ('table', 'csv' or 'json') to ``out``.

    configs: the configurations about to be measured: the table sizes its knob columns to their values."""
    if format == "table":
        numeric = [c for c in columns.TABLE_COLUMNS
                   if (KNOBS[c].kind in (int, float) if c in KNOBS else c not in _TEXT_COLUMNS)]
        return TablePrinter(columns.TABLE_COLUMNS, out, [c.to_dict() for c in configs], numeric=numeric)
    return {"csv": csv_printer, "json": json_printer}[format](out)


def print_device(dev: dict, out, label: str | None = None, indent: str = "") -> None:
    """One device of ``env`` (a lab.measure.energy.describe_with_energy() entry): a blank line, ``label`` (default:
    its device string) and name, then its facts, energy source and any ceilings, ``indent`` before each
    line. lab.cluster.cli prints each node's devices with it too."""
    print(f"\n{indent}{label or dev['device']}: {dev['name']}", file=out)
    for key in ("memory_gib", "cores", "default_threads", "capability", "power_limit_w", "sm_clock_mhz",
                "max_sm_clock_mhz", "memory_clock_mhz"):
        if key in dev:
            print(f"{indent}  {key:<16} {dev[key]}", file=out)
    print(f"{indent}  {'energy':<16} {dev['energy_why']}", file=out)
    if "ceilings" in dev:
        ceilings = dev["ceilings"]
        peaks = ", ".join(f"{p} {g:.0f}" for p, g in ceilings.get("peak_gflops", {}).items())
        print(f"{indent}  {'ceilings':<16} GFLOP/s: {peaks}; copy {ceilings.get('bandwidth_gbs', 0):.1f} GB/s "
              f"({ceilings.get('threads', '?')} threads, measured {ceilings.get('measured_at', '?')})", file=out)
