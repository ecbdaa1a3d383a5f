"""How ``python -m lab`` prints rows: a streamed fixed-width table, CSV or JSON lines (stdout), with the
progress bar on stderr left intact."""
from __future__ import annotations

import json
import math

from lab import columns


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


class TablePrinter:
    """Streams rows as a fixed-width table: the header once, then a line per row. With ``rows`` known
    up front, each column is as wide as its widest cell; streamed, as its header (at least 9)."""

    def __init__(self, cols, out, rows=None):
        self.cols, self.out, self.started = list(cols), out, False
        self.widths = [max([len(c), 9] + [len(format_value(r.get(c))) for r in rows or ()]) for c in self.cols]

    def __call__(self, row: dict):
        if not self.started:
            self.started = True
            self._line(self.cols)
        self._line([format_value(row.get(c)) for c in self.cols])

    def _line(self, cells):
        text = "  ".join(cell.ljust(w) if i == len(cells) - 1 else cell.rjust(w) if cell[:1].isdigit() else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, self.widths)))
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


def row_printer(format: str, out):
    """A function printing one row at a time in ``format`` ('table', 'csv' or 'json') to ``out``."""
    if format == "table":
        return TablePrinter(columns.TABLE_COLUMNS, out)
    return {"csv": csv_printer, "json": json_printer}[format](out)
