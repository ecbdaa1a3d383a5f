"""lab.Dashboard: turn knobs, watch latency, memory, energy and accuracy redraw as points arrive.

    dash = lab.Dashboard()                 # last line of a cell: the panel shows
    dash.set(quant="bf16", batch_sizes=(1, 16, 64)); dash.wait(30); dash.rows

A thin adapter (this module and layout.py are the only ones importing ipywidgets,
with lab.widgets re-exporting): control values -> configs is controls.py (pure,
tested), measuring and caching is worker.py (one background thread, newest
selection wins), the figure is figure.py + render.py (Agg to PNG bytes in a
widgets.Image, which a worker thread may update, unlike ``with output:``).
Sliders wait ``debounce_s`` for the drag to stop; every other control, and
``set()``, asks at once.

CSS classes for browser tests: lab-plot (the image), lab-sparsity, lab-quant,
lab-error, lab-status (progress text), lab-points (text: points so far), lab-table.
"""
from __future__ import annotations

import gc
import html
import threading
import time
from pathlib import Path

import ipywidgets as W
import pandas as pd

from lab.bench import DEFAULT_STORE, Bench
from lab.budget import Budget
from lab.config import KNOBS
from lab.dashboard import controls, files
from lab.dashboard.render import LiveFigure
from lab.dashboard.worker import Worker
from lab.version import __version__
from lab.widgets.layout import Controls

FIGURE_DIR = files.FIGURE_DIR
_SLIDERS = tuple(k for k, s in KNOBS.items() if s.widget == "slider")  # dragged: debounced


def budget_note(budget: Budget) -> str:
    """What a point of this budget is, in words, from the budget itself (lab.budget)."""
    t = budget.timing
    return (f"<b>{budget.name} budget</b>: each point is ≥{t.min_runs} timed runs in {t.min_time_s:g}–"
            f"{t.max_time_s:g} s and a {budget.energy_window_s:g} s energy window; rows record "
            "<code>budget</code>, <code>samples</code>, <code>noisy</code> and <code>contended</code>"
            + (". For paper numbers use <code>lab.sweep(...)</code> (default budget)." if budget.name != "default"
               else "."))


class Dashboard:
    """The live lab panel.

    bench: the path to the store (lab.bench.Bench); default: a Bench on ``store`` with ``budget``.
        Tests inject a Bench with a fake measure and environment.
    store: without ``bench``: a Store, a path, None (session only) or DEFAULT_STORE (lab.store.default_path())
    budget: without ``bench``: a Budget or its name (default 'quick')
    figure_dir: where "save figure" / "export rows" write (default data/results/figures/)
    debounce_s: quiet time after a slider moves before measuring
    autostart: measure the initial selection at once
    **values: initial control values (lab.dashboard.controls.CONTROLS); a bad one is a ValueError
    """

    def __init__(self, bench: Bench | None = None, store=DEFAULT_STORE, *, budget: Budget | str = "quick",
                 figure_dir=FIGURE_DIR, debounce_s: float = 0.3, autostart: bool = True, dpi: float = 72,
                 **values):
        controls.configs_from_controls(values)  # unknown names and bad values: ValueError naming them
        # A full (generation 2) garbage collection walks every object the kernel holds (torch,
        # pandas, matplotlib: ~250k here) with the GIL held: 150 ms pauses of the kernel while the
        # worker redraws. Freezing what exists now leaves those to the permanent generation
        # (measured: worst pause 155 ms -> 45 ms); what the dashboard creates later is collected as usual.
        gc.freeze()
        self.bench = bench if bench is not None else Bench(store, budget=budget)
        self.store = self.bench.store
        self.debounce_s = debounce_s
        self.redraws = 0
        self.redraw_log: list[tuple[float, int, float]] = []  # (perf_counter, points, render s) per image update
        self.shown: list[str] = []  # config_ids the image highlights as the current selection
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._request = None
        self._errors: list[str] = []
        self._drawn = False
        self._df, self._frame_version, self._table_version = files.frame([]), None, None
        self._live = LiveFigure(dpi=dpi)
        self.controls = Controls(values, self._changed)
        self.w = self.controls.w
        self._build(figure_dir)
        self._worker = Worker(self.bench, self._on_event)
        if autostart:
            self._submit()
        else:
            self._status("ready: change a control to measure")

    def _build(self, figure_dir) -> None:
        self.remeasure = W.Button(description="re-measure", tooltip="measure again, ignoring stored rows")
        self.remeasure.on_click(lambda _: self._submit(force=True))
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="140px"))
        self.status = W.Label("").add_class("lab-status")
        self.points = W.Label("0").add_class("lab-points")
        self.error = W.HTML("").add_class("lab-error")
        self.note = W.HTML(budget_note(self.bench.budget)).add_class("lab-note")
        # min_width 0: in a narrow output area the plot shrinks (keeping its aspect), rather than
        # squeezing the controls' column under it (an <img>'s flex minimum is its full width).
        self.image = W.Image(format="png", layout=W.Layout(width="900px", min_width="0")).add_class("lab-plot")
        self.table = W.HTML("").add_class("lab-table")
        self.folder = W.Text(value=str(figure_dir), description="folder", layout=W.Layout(width="420px"))
        self.figure_format = W.Dropdown(options=files.FIGURE_FORMATS, value="pdf", layout=W.Layout(width="70px"))
        self.rows_format = W.Dropdown(options=files.ROW_FORMATS, value="csv", layout=W.Layout(width="90px"))
        save, export = W.Button(description="save figure"), W.Button(description="export rows")
        save.on_click(lambda _: self._saving(self.save_figure, self.figure_format.value))
        export.on_click(lambda _: self._saving(self.export_rows, self.rows_format.value))
        self.saved = W.HTML("").add_class("lab-saved")
        side = W.VBox([self.controls.box, self.remeasure, W.HBox([self.progress, self.status]),
                       W.HBox([W.Label("points:"), self.points]), self.error],
                      layout=W.Layout(width="380px", flex="0 0 auto"))  # never narrower than its controls
        self.widget = W.VBox([W.HTML(f"<b>Efficiency Lab</b> {__version__}"), self.note, W.HBox([side, self.image]),
                              W.HBox([save, self.figure_format, self.folder, export, self.rows_format]),
                              self.saved, self.table]).add_class("lab-dashboard")

    # --- controls -------------------------------------------------------------------------------
    def values(self) -> dict:
        """The controls' current values (lab.dashboard.controls.CONTROLS)."""
        return self.controls.values()

    def set(self, **values) -> "Dashboard":
        """Set controls as a user would, then ask once, at once (no debounce). A bad value raises
        ValueError naming the field; an option this hardware can't run is refused in the panel."""
        merged = controls.merged({**self.values(), **values})
        controls.configs_from_controls(merged)
        if not set(controls.batch_sizes(merged["batch_sizes"])) <= set(controls.BATCH_CHOICES):
            raise ValueError(f"batch_sizes={merged['batch_sizes']!r} is not allowed: from {controls.BATCH_CHOICES}")
        if merged["finetune_epochs"] > controls.FINETUNE_MAX:
            raise ValueError(f"finetune_epochs={merged['finetune_epochs']} is not allowed: "
                             f"0 to {controls.FINETUNE_MAX} in the dashboard")
        self.controls.apply(values)
        self._submit()
        return self

    def _changed(self, name: str) -> None:
        if name in _SLIDERS and self.debounce_s > 0:
            with self._timer_lock:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = threading.Timer(self.debounce_s, self._fire)
                self._timer.daemon = True
                self._timer.start()
        else:
            self._submit()

    def _fire(self) -> None:
        with self._timer_lock:
            if self._timer is not threading.current_thread():
                return  # cancelled or replaced since
            self._timer = None
        self._submit()

    def _cancel_timer(self) -> None:
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    # --- requests and worker events -------------------------------------------------------------
    def _submit(self, force: bool = False):
        self._cancel_timer()
        values = self.values()
        try:
            configs = controls.configs_from_controls(values)
            reason = controls.refusal(values)
        except ValueError as exc:
            return self._refuse(str(exc))
        if reason:
            return self._refuse(f"not run on this hardware: {reason}")
        self._errors = []
        self.error.value = ""
        self._request = self._worker.submit(configs, force)
        return self._request

    def _refuse(self, message: str) -> None:
        self._worker.cancel()
        self._request = None
        self._errors = [message]
        self._show_errors()
        self._status("not measured: see the message below")

    def _on_event(self, event: str, request, **data) -> None:
        """Called in the worker thread."""
        if not self._worker.is_current(request):
            return
        if event == "start":
            self.progress.max, self.progress.value = max(1, data["total"]), data["cached"]
            if not self._drawn:
                self._draw(request)  # labelled empty axes while the first point is measured
        elif event == "rows":
            self._errors += [f"{controls.describe(_config_of(row, request))}: {row['error']}"
                             for row in data["rows"] if row.get("error")]
            self._draw(request)
            self.progress.value = data["done"]
            self._status(f"{data['done']}/{data['total']} points" + _eta(data["eta_s"], data["done"], data["total"]))
        elif event == "progress":
            self._status(f"measuring {controls.describe(data['config'])} ({data['done'] + 1}/{data['total']})"
                         + _eta(data["eta_s"], data["done"], data["total"]))
        elif event == "done":
            self.progress.value = self.progress.max
            self._status(f"done: {data['measured']} measured, {data['cached']} stored before · "
                         f"{data['seconds']:.1f} s")
        elif event == "error":
            self._errors.append(f"dashboard: {data['message']}")
            self._show_errors()

    def _draw(self, request) -> None:
        rows, version = self._worker.rows()
        if version != self._frame_version:  # a toggle back changes no rows: reuse the frame and table
            self._df, self._frame_version = files.frame(rows), version
        df = self._df
        png = self._live.png(df, request.ids, version)
        if not self._worker.is_current(request):
            return  # a newer selection arrived while drawing: don't show this one as current
        self.image.value = png
        points = int(df["error"].isna().sum()) if len(df) else 0
        self.redraw_log.append((time.perf_counter(), points, self._live.last_s))
        self.redraws += 1
        self.shown = request.ids
        self._drawn = True
        self.points.value = str(points)
        if self._table_version != version:
            self.table.value, self._table_version = files.table_html(df), version
        self._show_errors()

    def _show_errors(self) -> None:
        self.error.value = "".join(f"<div style='color:#b00020'>⚠ {html.escape(m)}</div>" for m in self._errors)

    def _status(self, text: str) -> None:
        self.status.value = text + f" · {self.bench.budget.name} budget"

    # --- saving ---------------------------------------------------------------------------------
    def _saving(self, save, format: str) -> None:
        try:
            self.saved.value = f"saved {html.escape(str(save(format)))}"
        except ValueError as exc:
            self._errors.append(f"not saved: {exc}")
            self._show_errors()

    def save_figure(self, format: str = "pdf", folder=None) -> Path:
        """Write the figure as shown (pdf, svg or png) and the rows behind it (same name, .csv)."""
        return files.save_figure(self.rows, self._request.ids if self._request else None, format,
                                 self.folder.value if folder is None else folder)

    def export_rows(self, format: str = "csv", folder=None) -> Path:
        """Write this session's rows as csv or parquet."""
        return files.export_rows(self.rows, format, self.folder.value if folder is None else folder)

    # --- public ---------------------------------------------------------------------------------
    @property
    def rows(self) -> pd.DataFrame:
        """Every row shown this session (measured or from the store), in first-seen order."""
        return files.frame(self._worker.rows()[0])

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    @property
    def runner_calls(self) -> int:
        return self._worker.calls

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no slider wait is pending and the worker is idle; False on timeout."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self._timer is not None:
            if deadline is not None and time.perf_counter() > deadline:
                return False
            time.sleep(0.005)
        return self._worker.wait(None if deadline is None else max(0.0, deadline - time.perf_counter()))

    def close(self, timeout: float = 1.0) -> None:
        """Stop the worker; wait up to ``timeout`` s for it (a configuration in progress finishes
        in the background, and is stored)."""
        self._cancel_timer()
        self._worker.close(timeout)
        self._status("closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def display(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _config_of(row: dict, request):
    return next((c for c in request.configs if c.config_id == row.get("config_id")), request.configs[0])


def _eta(eta_s: float, done: int, total: int) -> str:
    return f" · ETA ~{eta_s:.0f} s" if done < total and eta_s >= 0.5 else ""
