"""One live panel of the data / training dashboard: knob widgets, the background worker, a status line,
and a figure redrawn as points arrive. The data and training panels (lab.widgets.data_train_panel) say
what to measure and what to draw; everything else is here.

Threads: the worker (lab.dashboard.worker.Worker: newest selection wins, store rows at once, each row
committed as measured, one measurement at a time in the process) only records what arrived and asks for
a redraw; a Redrawer thread (lab.dashboard.live_runs) draws, at most every ``min_redraw_s``; the kernel's
thread only handles clicks. So a training run is never slowed by drawing inside its timed epochs, and
the kernel never waits for a measurement.
"""
from __future__ import annotations

import functools
import html
import time

import ipywidgets as W
import pandas as pd

from lab.dashboard.data_train_draw import FigureView
from lab.dashboard.live_runs import Redrawer, is_cancelled
from lab.dashboard.render import MPL_LOCK
from lab.dashboard.worker import Worker
from lab.widgets.canvas import canvas_png, live_canvas
from lab.widgets.debounce import Debounce

_STYLE, _WIDE = {"description_width": "150px"}, "380px"


def control_widget(spec, value):
    """The widget for one lab.dashboard.data_train.ControlSpec, at ``value``."""
    common = {"description": spec.knob.label, "style": _STYLE, "layout": W.Layout(width=_WIDE)}
    if spec.widget == "checkbox":
        return W.Checkbox(value=bool(value), description=spec.knob.label, indent=False)
    if spec.widget == "dropdown":
        options = [(str(o), o) for o in spec.options]
        if value not in spec.options:
            options.append((str(value), value))
        return W.Dropdown(options=options, value=value, **common)
    if spec.widget == "slider":
        if spec.knob.kind is int:
            return W.IntSlider(value=int(value), min=int(spec.low), max=int(spec.high), step=int(spec.step), **common)
        return W.FloatSlider(value=float(value), min=spec.low, max=spec.high, step=spec.step,
                             readout_format=".2f", **common)
    raise ValueError(f"widget={spec.widget!r} is not allowed here: dropdown, slider, checkbox, toggles")


class Toggles:
    """Several values at once (num_workers): one ToggleButton per value."""

    def __init__(self, spec, values, on_change):
        self.buttons = {v: W.ToggleButton(value=v in values, description=str(v), tooltip=f"{spec.knob.label}: {v}",
                                          layout=W.Layout(width="42px", padding="0")) for v in spec.options}
        for button in self.buttons.values():
            button.observe(lambda change: on_change(), names="value")
        self.box = W.VBox([W.Label(spec.knob.label), W.HBox(list(self.buttons.values()))])

    @property
    def value(self) -> tuple:
        return tuple(v for v, b in self.buttons.items() if b.value)

    @value.setter
    def value(self, values) -> None:
        values = (values,) if isinstance(values, int) else tuple(values)
        for v, b in self.buttons.items():
            b.value = v in values


class LivePanel:
    """Subclasses set ``panel`` ('data' / 'training') and implement ``configs(values)``,
    ``draw(axes, rows)`` and ``describe(row_or_config)``; ``bench`` is what the Worker measures through."""

    panel = ""
    title = ""

    def __init__(self, bench, specs: dict, start: dict, *, debounce_s: float = 0.3, min_redraw_s: float = 0.2,
                 autostart: bool = True):
        from lab.dashboard.data_train_draw import two_axes

        self.bench, self.specs, self.debounce_s = bench, specs, debounce_s
        self.redraws, self.redraw_log = 0, []   # (perf_counter, points drawn) per frame
        self._hooks: list = []
        self._errors: list[str] = []
        self._request = None
        self._debounce = Debounce(self._submit)
        self._quiet = 0
        self.started = False
        self.fig, self.axes = two_axes()
        self.view = FigureView(self.fig)
        self.canvas = live_canvas(self.view)
        self.w = {}
        children = []
        for name, spec in specs.items():
            if spec.widget == "toggles":
                widget = Toggles(spec, start[name], functools.partial(self._changed, name))
                children.append(widget.box)
            else:
                widget = control_widget(spec, start[name])
                widget.tooltip = spec.knob.help
                widget.observe(functools.partial(lambda name, change: self._changed(name), name), names="value")
                children.append(widget)
            self.w[name] = widget
        self.remeasure = W.Button(description="measure again", tooltip="measure again, ignoring stored rows")
        self.remeasure.on_click(lambda _: self._submit(force=True))
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="120px"))
        self.status = W.Label("").add_class("lab-status")
        self.points = W.Label("0").add_class("lab-points")
        self.error = W.HTML("").add_class("lab-error")
        side = W.VBox(children + [self.remeasure, W.HBox([self.progress, self.status]),
                                  W.HBox([W.Label("points:"), self.points]), self.error],
                      layout=W.Layout(width="400px", flex="0 0 auto"))
        self.widget = W.HBox([side, self.canvas], layout=W.Layout(flex_flow="row wrap")).add_class(
            f"lab-{self.panel}-panel")
        self.redrawer = Redrawer(self._draw, min_redraw_s, name=f"lab-{self.panel}-redraw")
        self.worker = Worker(bench, self._on_event)
        if autostart:
            self.start()
        else:
            self._status("ready: change a control to measure")

    # --- what subclasses provide -----------------------------------------------------------------
    def configs(self, values: dict) -> list:
        raise NotImplementedError

    def draw(self, axes, rows: list[dict]) -> int:
        raise NotImplementedError

    def describe(self, row) -> str:
        raise NotImplementedError

    def before_submit(self) -> None:
        """Called just before a new selection is submitted (the training panel stops its run here)."""

    # --- controls ----------------------------------------------------------------------------------
    def values(self) -> dict:
        return {name: widget.value for name, widget in self.w.items()}

    def set(self, **values):
        """Set controls as a user would, then ask once, at once; a bad value raises FieldError naming it.

        Every value is checked before any widget changes: by the configuration (an unknown control, a
        value the knob refuses), then by its widget (ControlSpec.check: a slider's range, a dropdown's
        options), which would otherwise clamp it silently or raise with earlier widgets already changed."""
        self.configs({**self.values(), **values})
        for name, value in values.items():
            widget = self.w[name]
            self.specs[name].check(value, offered=[v for _, v in getattr(widget, "options", ())])
        self._quiet += 1
        try:
            for name, value in values.items():
                self.w[name].value = value
        finally:
            self._quiet -= 1
        self._submit()
        return self

    def start(self) -> None:
        """Measure the current selection (once: later changes measure by themselves)."""
        if not self.started:
            self.started = True
            self._submit()

    def _changed(self, name: str) -> None:
        if self._quiet:
            return
        self.started = True
        if self.specs[name].widget == "slider" and self.debounce_s > 0:
            self._debounce.restart(self.debounce_s)
        else:
            self._submit()

    def _submit(self, force: bool = False):
        self._debounce.cancel()
        try:
            configs = self.configs(self.values())
        except ValueError as exc:  # FieldError: one line naming the field
            self.before_submit()
            self.worker.cancel()
            self._request = None
            self._errors = [str(exc).splitlines()[0]]
            self._show_errors()
            self._status("not measured: see the message below")
            return None
        self._errors = []
        self._show_errors()
        self.before_submit()
        self._request = self.worker.submit(configs, force)
        return self._request

    # --- worker events (worker thread) -------------------------------------------------------------
    def _on_event(self, event: str, request, **data) -> None:
        if not self.worker.is_current(request):
            return
        if event == "start":
            self.progress.max, self.progress.value = max(1, data["total"]), data["cached"]
            self.redrawer.request()
        elif event == "rows":
            self._errors += [f"{self.describe(row)}: {str(row['error']).splitlines()[0]}"
                             for row in data["rows"] if row.get("error") and not is_cancelled(row)]
            self.progress.value = data["done"]
            self._status(f"{data['done']}/{data['total']} measured or stored")
            self.redrawer.request()
        elif event == "progress":
            self._status(f"measuring {self.describe(data['config'])} ({data['done'] + 1}/{data['total']})")
        elif event == "done":
            self.progress.value = self.progress.max
            self._status(f"done: {data['measured']} measured, {data['cached']} stored before · "
                         f"{data['seconds']:.1f} s")
            self.redrawer.request()
        elif event == "error":
            self._errors.append(f"dashboard: {data['message']}")
            self.redrawer.request()

    def _draw(self) -> None:
        """Redrawer thread: the figure from the rows and points known now, sent to the browser."""
        rows, _ = self.worker.rows()
        with MPL_LOCK:
            drawn = self.draw(self.axes, rows)
            self.canvas.draw()
        self.redraws += 1
        self.redraw_log.append((time.perf_counter(), drawn))
        self.points.value = str(drawn)
        self._show_errors()
        for hook in list(self._hooks):
            hook(self)

    def on_redraw(self, hook) -> None:
        """Call ``hook(panel)`` after each frame (tests, benchmarks)."""
        self._hooks.append(hook)

    def _show_errors(self) -> None:
        value = "".join(f"<div style='color:#b00020'>⚠ {html.escape(m)}</div>" for m in self._errors)
        if value != self.error.value:
            self.error.value = value

    def _status(self, text: str) -> None:
        budget = getattr(self.bench, "budget", None)
        name = getattr(budget, "name", budget)
        self.status.value = text + (f" · {name} budget" if name else "")

    # --- public -------------------------------------------------------------------------------------
    @property
    def current_ids(self) -> list[str]:
        return self._request.ids if self._request is not None else []

    @property
    def rows(self) -> pd.DataFrame:
        """Every row this panel showed this session (measured or from the store), in first-seen order."""
        return pd.DataFrame(self.worker.rows()[0])

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    @property
    def measure_calls(self) -> int:
        return self.worker.calls

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no slider wait is pending, the worker is idle and its last frame is drawn."""
        deadline = None if timeout is None else time.perf_counter() + timeout

        def left():
            return None if deadline is None else max(0.0, deadline - time.perf_counter())
        return self._debounce.wait(deadline) and self.worker.wait(left()) and self.redrawer.flush(left())

    def png(self) -> bytes:
        """The canvas as last drawn, as PNG bytes."""
        return canvas_png(self.canvas)

    def close(self, timeout: float = 1.0) -> None:
        self._debounce.cancel()
        self.before_submit()
        self.worker.close(timeout)
        self.redrawer.close()
        self._status("closed")
