"""lab.Dashboard: turn knobs, watch latency, memory, energy and accuracy redraw as points arrive.

    dash = lab.Dashboard()                 # last line of a cell: the panel shows
    dash.set(quant="bf16", batch_sizes=(1, 16, 64)); dash.wait(30); dash.rows

A thin adapter (this module, layout.py and canvas.py are the only ones importing ipywidgets,
with lab.widgets re-exporting): control values -> configs is controls.py (pure,
tested), measuring and caching is worker.py (one background thread, newest
selection wins), the live view is views.py (the panel or pair of panels the user
picks, drawn large and updated in place) on an ipympl canvas: pan and zoom, a
tooltip for the point under the mouse (mirrored, with all its numbers, in an HTML
line), and a click on a point selects its configuration. The worker thread renders
(Agg, the static layer reused) and sends the changed pixels itself, so the kernel's
own thread only draws when the browser asks (a hover, a resize). The card is HTML.
Sliders wait ``debounce_s`` for the drag to stop; every other control, and
``set()``, asks at once.

CSS classes for browser tests: lab-plot (the canvas), lab-panel-picker, lab-panel-below,
lab-hover (the point under the mouse), lab-card, lab-sparsity, lab-quant, lab-error,
lab-status (progress text), lab-points (text: points so far), lab-table.
"""
from __future__ import annotations

import gc
import html
import json
import threading
import time
from pathlib import Path

import ipywidgets as W
import pandas as pd

from lab import plots
from lab.bench import DEFAULT_STORE, Bench
from lab.budget import Budget
from lab.config import KNOBS
from lab.dashboard import controls, describe, files, views
from lab.dashboard.render import MPL_LOCK
from lab.dashboard.worker import Worker
from lab.version import __version__
from lab.widgets.canvas import canvas_png, live_canvas
from lab.widgets.debounce import Debounce
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
    cluster: a Ray cluster to measure on too (lab.cluster: "auto", "host:port", "ray://host:port"; default
        $LAB_CLUSTER, unset: this machine only): its nodes' devices join the hardware dropdown
    **values: initial control values (lab.dashboard.controls.CONTROLS); a bad one is a ValueError
    """

    def __init__(self, bench: Bench | None = None, store=DEFAULT_STORE, *, budget: Budget | str = "quick",
                 figure_dir=FIGURE_DIR, debounce_s: float = 0.3, autostart: bool = True, dpi: float = views.DPI,
                 panel: str = views.DEFAULT_PANEL, below: str | None = None, cluster: str | None = None, **values):
        controls.configs_from_controls(values)  # unknown names and bad values: ValueError naming them
        joined = None
        if cluster is not None:  # joined before the controls are built: the dropdown lists its nodes
            from lab.cluster import session

            joined = session.connect(cluster, field="cluster")
        # A full (generation 2) garbage collection walks every object the kernel holds (torch,
        # pandas, matplotlib: ~250k here) with the GIL held: 150 ms pauses of the kernel while the
        # worker redraws. Freezing what exists now leaves those to the permanent generation
        # (measured: worst pause 155 ms -> 45 ms); what the dashboard creates later is collected as usual.
        gc.freeze()
        # The Cluster joined above, not its address: the Bench measures on it without joining again.
        self.bench = bench if bench is not None else Bench(store, budget=budget, cluster=joined)
        self.store = self.bench.store
        self.debounce_s = debounce_s
        self.redraws = 0
        self.redraw_log: list[tuple[float, int, float, str]] = []  # (perf_counter, points, s, 'fast'/'full') per frame
        self._redraw_hooks: list = []
        self.shown: list[str] = []  # config_ids the view highlights as the current selection
        self.hovered: dict | None = None  # the row of the point under the mouse
        self._debounce = Debounce(self._submit)
        self._request = None
        self._errors: list[str] = []
        self._drawn = False
        self._df, self._frame_version, self._table_version = files.frame([]), None, None
        self.view = views.FocusView(views.layout(panel, below), dpi=dpi)
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
        self.canvas = live_canvas(self.view)
        self.canvas.mpl_connect("motion_notify_event", self._on_move)
        self.canvas.mpl_connect("figure_leave_event", lambda event: self._hovering(None))
        self.canvas.mpl_connect("button_press_event", self._on_click)
        names = [(views.PANELS[k].title, k) for k in views.PANELS]
        self.panel_picker = W.ToggleButtons(options=names, value=self.view.panels[0],
                                            tooltips=[f"show {t} large" for t, _ in names],
                                            style={"button_width": "auto"}).add_class("lab-panel-picker")
        self.panel_below = W.Dropdown(options=[("—", "")] + names, value=(self.view.panels[1:] or ("",))[0],
                                      description="below", style={"description_width": "44px"},
                                      layout=W.Layout(width="230px")).add_class("lab-panel-below")
        for picker in (self.panel_picker, self.panel_below):
            picker.observe(lambda change: self.show_panels(self.panel_picker.value, self.panel_below.value),
                           names="value")
        self.hover = W.HTML(describe.hover_html(None), layout=W.Layout(width=f"{self.canvas_width}px",
                                                                    min_height="44px")).add_class("lab-hover")
        # Where each point is drawn (CSS px on the canvas), hidden: an image map for tests and tools.
        self.point_map = W.HTML("", layout=W.Layout(display="none")).add_class("lab-point-map")
        self.legend = W.HTML("", layout=W.Layout(width=f"{self.canvas_width}px")).add_class("lab-legend-box")
        self.card = W.HTML(describe.card_html(None, None), layout=W.Layout(width="360px", margin="8px 0 0 0",
                                                                         padding="6px 8px",
                                                                         border="1px solid #ddd")
                           ).add_class("lab-card")
        self.table = W.HTML("").add_class("lab-table")
        self.folder = W.Text(value=str(figure_dir), description="folder", layout=W.Layout(width="420px"))
        self.figure_format = W.Dropdown(options=files.FIGURE_FORMATS, value="pdf", layout=W.Layout(width="70px"))
        self.rows_format = W.Dropdown(options=files.ROW_FORMATS, value="csv", layout=W.Layout(width="90px"))
        save, export = W.Button(description="save figure"), W.Button(description="export rows")
        save.on_click(lambda _: self._saving(self.save_figure, self.figure_format.value))
        export.on_click(lambda _: self._saving(self.export_rows, self.rows_format.value))
        self.saved = W.HTML("").add_class("lab-saved")
        # Where the time goes: a per-operator profile of the selection, on demand (about a second).
        profile_button = W.Button(description="where the time goes", tooltip="profile the selection's "
                                  "smallest batch: the operators that take its time (torch.profiler)")
        profile_button.on_click(lambda _: threading.Thread(target=self._profiling, daemon=True).start())
        self.profile_image = W.Image(format="png", layout=W.Layout(display="none")).add_class("lab-profile")
        self.profile_note = W.HTML("").add_class("lab-profile-note")
        side = W.VBox([self.controls.box, self.remeasure, W.HBox([self.progress, self.status]),
                       W.HBox([W.Label("points:"), self.points]), self.error, self.card],
                      layout=W.Layout(width="380px", flex="0 0 auto"))  # never narrower than its controls
        # The plot keeps its size (>= 600 px, fonts >= 10 px): where the output area can't hold both
        # columns, it wraps under the controls instead of shrinking or covering them.
        plot = W.VBox([W.HBox([self.panel_picker]), self.panel_below, self.canvas, self.legend, self.hover,
                       self.point_map, W.HBox([profile_button, self.profile_note]), self.profile_image],
                      layout=W.Layout(flex="0 0 auto"))
        self.widget = W.VBox([W.HTML(f"<b>Efficiency Lab</b> {__version__}"), self.note,
                              W.HBox([side, plot], layout=W.Layout(flex_flow="row wrap")),
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
            self._debounce.restart(self.debounce_s)
        else:
            self._submit()

    # --- requests and worker events -------------------------------------------------------------
    def _submit(self, force: bool = False):
        self._debounce.cancel()
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
            if not self._drawn or not data["cached"]:
                # At once: the highlight moves to the new selection (its points, if the session has
                # them, e.g. contended rows being measured again); labelled empty axes at first.
                self._draw(request)
        elif event == "rows":
            self._errors += [f"{controls.describe(_config_of(row, request))}: {row['error']}"
                             for row in data["rows"] if row.get("error")]
            self._draw(request)
            self.progress.value = data["done"]
            self._status(f"{data['done']}/{data['total']} points" + _eta(data["eta_s"], data["done"], data["total"]))
        elif event == "progress":
            slow = describe.slow_steps(data["config"], self.bench)
            self._status(f"measuring {controls.describe(data['config'])} ({data['done'] + 1}/{data['total']})"
                         + (" · " + "; ".join(slow) if slow else "") + _eta(data["eta_s"], data["done"], data["total"]))
        elif event == "done":
            self.progress.value = self.progress.max
            self._status(f"done: {data['measured']} measured, {data['cached']} stored before · "
                         f"{data['seconds']:.1f} s")
        elif event == "error":
            self._errors.append(f"dashboard: {data['message']}")
            self._show_errors()

    def _draw(self, request) -> None:
        """Worker thread: update the shown panels' artists, render (the static layer reused where the
        axes stay), send the changed pixels; then the card, the point count and the table."""
        started = time.perf_counter()
        rows, version = self._worker.rows()
        if version != self._frame_version:  # a toggle back changes no rows: reuse the frame and table
            self._df, self._frame_version = files.frame(rows), version
        df = self._df
        with MPL_LOCK:
            self.view.update(df, request.ids, version)
            if not self._worker.is_current(request):
                return  # a newer selection arrived while drawing: don't show this one as current
            mode = self._render()
        seconds = time.perf_counter() - started
        points = int(df["error"].isna().sum()) if len(df) else 0
        self.redraw_log.append((time.perf_counter(), points, seconds, mode))
        self.redraws += 1
        self.shown = request.ids
        self._drawn = True
        self.points.value = str(points)
        card = describe.card_html(df, request.ids)
        if card != self.card.value:
            self.card.value = card
        if self._table_version != version:
            self.table.value, self._table_version = files.table_html(df), version
        self._show_errors()
        for hook in list(self._redraw_hooks):
            hook(self)

    def _render(self) -> str:
        """Render the view on the canvas and send it (any thread; MPL_LOCK held by the canvas)."""
        with MPL_LOCK:
            self.canvas.draw()
            points = self.view.point_map(getattr(self.canvas, "device_pixel_ratio", 1) or 1)
        value = f"<span data-points='{html.escape(json.dumps(points), quote=True)}'></span>"
        if value != self.point_map.value:
            self.point_map.value = value
        legend = describe.legend_html(self.view.legend_items, self.view.legend_hidden, self.view.legend_pareto)
        if legend != self.legend.value:
            self.legend.value = legend
        return self.canvas.last_mode

    # --- the live view: which panels, the point under the mouse ------------------------------------
    @property
    def canvas_width(self) -> int:
        return int(round(views.WIDTH_IN * views.DPI))

    def show_panels(self, panel: str, below: str | None = None) -> "Dashboard":
        """Show ``panel`` large (and ``below`` under it): redrawn from the rows at once."""
        panels = views.layout(panel, below or None)
        with MPL_LOCK:
            if not self.view.show(panels):
                return self
            self.view.update(self._df, self.shown or None, self._frame_version)
            width, height = self.view.fig.bbox.size
            self.canvas.manager.resize(width, height)  # the browser resizes its canvas to the figure
            self._render()
        with self.controls.quietly():
            self.panel_picker.value, self.panel_below.value = panels[0], (panels[1:] or ("",))[0]
        return self

    def _on_move(self, event) -> None:
        """Kernel thread (an ipympl mouse event): the point under the mouse, if it changed."""
        if event.x is None or event.y is None:
            return
        with MPL_LOCK:
            row = self.view.hit(event.x, event.y)
        self._hovering(row, (event.x, event.y))

    def _hovering(self, row, at_xy=None) -> None:
        with MPL_LOCK:
            changed = self.view.mark(row, at_xy)
            if changed:
                self._render()
        if changed and row is not None:
            self.hover.value = describe.hover_html(row)
        self.hovered = None if row is None else dict(row)

    def _on_click(self, event) -> None:
        """Kernel thread: a click on a point selects its configuration (not while panning or zooming)."""
        toolbar = getattr(self.canvas, "toolbar", None)
        if event.x is None or (toolbar is not None and str(getattr(toolbar, "mode", "")) != ""):
            return
        with MPL_LOCK:
            row = self.view.hit(event.x, event.y)
        if row is not None:
            self.select(row)

    def select(self, row) -> "Dashboard":
        """Set the controls to ``row``'s configuration (a click on its point) and measure / show it."""
        try:
            return self.set(**describe.controls_for(row, self.values()))
        except ValueError as exc:
            self._errors = [f"cannot select that point: {exc}"]
            self._show_errors()
            return self

    def png(self) -> bytes:
        """The canvas as it was last rendered, as PNG bytes (tests compare frames)."""
        return canvas_png(self.canvas)

    def on_redraw(self, hook) -> None:
        """Call ``hook(dashboard)`` after each frame the worker draws (tests, benchmarks)."""
        self._redraw_hooks.append(hook)

    def _show_errors(self) -> None:
        self.error.value = "".join(f"<div style='color:#b00020'>⚠ {html.escape(m)}</div>" for m in self._errors)

    def _status(self, text: str) -> None:
        self.status.value = text + f" · {self.bench.budget.name} budget"

    # --- saving ---------------------------------------------------------------------------------
    def profile_selection(self):
        """Profile the current selection at its smallest batch size (lab.measure.profile.profile_config:
        the top operators by self time, their share, and how much of the wall time they cover) and
        show it under the plot. Waits for a measurement in progress: one at a time in this process,
        so neither perturbs the other. Returns the OperatorProfile."""
        from lab.dashboard import worker
        from lab.measure import profile

        config = controls.configs_from_controls(self.values())[0]
        self.profile_note.value = f"profiling {html.escape(controls.describe(config))} ..."
        with worker.MEASURING:
            result = profile.profile_config(config, prepared=self.bench.prepared)  # the transformed model, reused
        self.profile_image.value = _profile_png(result)
        self.profile_image.layout.display = None
        top = result.operators[0] if result.operators else None
        self.profile_note.value = html.escape(
            f"{controls.describe(config)}: operators {result.total_ms:.3g} ms of {result.wall_ms:.3g} ms per "
            f"forward" + (f"; {top.name} {top.share:.0%}" if top else ""))
        return result

    def _profiling(self) -> None:
        try:
            self.profile_selection()
        except Exception as exc:  # noqa: BLE001 — a button's thread: the panel shows the one line
            self.profile_note.value = html.escape(f"not profiled: {type(exc).__name__}: {exc}".splitlines()[0])

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
        return self._debounce.wait(deadline) and self._worker.wait(
            None if deadline is None else max(0.0, deadline - time.perf_counter()))

    def close(self, timeout: float = 1.0) -> None:
        """Stop the worker; wait up to ``timeout`` s for it (a configuration in progress finishes
        in the background, and is stored)."""
        self._debounce.cancel()
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


def _profile_png(result) -> bytes:
    """The profile's bar chart as PNG bytes (its own Agg figure, no pyplot: any thread)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(views.WIDTH_IN, 0.6 + 0.32 * max(1, len(result.operators))), dpi=views.DPI,
                 layout="constrained")
    plots.operator_bars(result, fig.subplots())
    with io.BytesIO() as png:
        fig.savefig(png, format="png")
        return png.getvalue()
