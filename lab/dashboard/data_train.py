"""The data and training panels' logic, without widgets: control values -> configurations, and names.

    loader_configs({"num_workers": (0, 1, 2), "sample_cost_ms": 0.5})   # one LoaderConfig per num_workers
    train_config({"label_noise": 0.2, "precision": "bf16"})             # one TrainConfig
    describe_loader(row); describe_training(row)                         # one line naming a row

Each control is a knob of lab.data.LoaderConfig or lab.train.TrainConfig (declared there with
lab.knobs.knob: type, range, label, help); ``control_specs`` turns them into what a widget needs.
``num_workers`` on the data panel is a set of values (the curve runs over them), as batch sizes are
on the inference dashboard. What the dashboard narrows (a slider's end, the batch sizes offered) is
PANEL_RANGES; values a control leaves out take the knob's default, or DATA_DEFAULTS / TRAIN_DEFAULTS
where the panel starts elsewhere (a model that trains in seconds, a time budget that fits a lesson).
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

from lab.dashboard.controls import row_value as _get
from lab.dashboard.controls import whole_numbers
from lab.errors import FieldError
from lab.knobs import Knob, collect

DATA_CONTROLS = ("dataset", "storage", "model", "step", "num_workers", "batch_size", "pin_memory", "sample_cost_ms")
TRAIN_CONTROLS = ("model", "label_noise", "data_kept", "keep_by", "batch_size", "precision", "target_accuracy",
                  "time_budget_s", "seed")
WORKER_CHOICES = (0, 1, 2, 4)
DATA_DEFAULTS = {"num_workers": (0, 1, 2), "model": "mnist1d-cnn", "batch_size": 64, "sample_cost_ms": 0.2}
TRAIN_DEFAULTS = {"model": "digits-mlp", "batch_size": 64, "target_accuracy": 0.9, "time_budget_s": 20.0}
# Where a panel's control is narrower than its knob: the values a dropdown offers (a tuple), a slider's
# (low, high) range (a dict; low above 0 where the knob refuses 0 itself: data kept, target accuracy).
PANEL_RANGES = {
    "data": {"batch_size": (16, 32, 64, 128, 256), "sample_cost_ms": {"high": 5.0}},
    "training": {"batch_size": (8, 16, 32, 64, 128, 256), "data_kept": {"low": 0.1},
                 "target_accuracy": {"low": 0.5}, "time_budget_s": {"low": 1.0, "high": 120.0, "step": 1.0},
                 "seed": {"high": 9}},
}


@dataclasses.dataclass(frozen=True)
class ControlSpec:
    """What a widget needs for one control: its knob and how the panel shows it."""
    name: str
    knob: Knob
    widget: str              # 'dropdown', 'slider', 'checkbox' or 'toggles' (several values at once)
    options: tuple = ()      # dropdown values / toggle values
    low: float | None = None
    high: float | None = None
    step: float | None = None

    def check(self, value, offered: Iterable = ()):
        """``value`` if this control's widget can show it, else FieldError naming the control and what it
        allows. The configuration's own check is wider than the widget (a time budget of 300 s is a valid
        TrainConfig, but the slider ends at 120: ipywidgets would clamp it silently, and a dropdown
        refuses a value it does not offer). ``offered``: values a dropdown offers beyond ``options``
        (the panel's start value where it was outside them)."""
        if self.widget == "checkbox":
            if not isinstance(value, bool):
                raise FieldError(self.name, value, "true or false")
        elif self.widget == "dropdown":
            allowed = tuple(self.options) + tuple(o for o in offered if o not in self.options)
            if not any(_same(value, o) for o in allowed):
                raise FieldError(self.name, value, "one of " + ", ".join(str(o) for o in allowed))
        elif self.widget == "toggles":
            values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or \
                    not all(any(_same(v, o) for o in self.options) for v in values):
                raise FieldError(self.name, value, "one or more of " + ", ".join(str(o) for o in self.options))
        elif self.widget == "slider":
            whole = self.knob.kind is int
            number = (int,) if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, number) or not self.low <= value <= self.high:
                raise FieldError(self.name, value, (f"a whole number from {int(self.low)} to {int(self.high)}" if whole
                                                    else f"a number from {self.low:g} to {self.high:g}")
                                 + " (the panel's slider)")
        return value


def _same(value, option) -> bool:
    """``value`` is ``option`` as a widget sees it: equal and not a bool posing as a number (True == 1)."""
    return value == option and isinstance(value, bool) == isinstance(option, bool)


def loader_class():
    from lab.data import LoaderConfig  # here, not at import: the dashboard package loads without lab.data
    return LoaderConfig


def train_class():
    from lab.train import TrainConfig
    return TrainConfig


def _knobs(panel: str) -> dict[str, Knob]:
    """The knobs of the panel's configuration class ('data': LoaderConfig, 'training': TrainConfig)."""
    return collect(loader_class() if panel == "data" else train_class())


def controls_of(panel: str) -> tuple[str, ...]:
    """The panel's controls ('data' or 'training') that its configuration class declares as knobs."""
    names = DATA_CONTROLS if panel == "data" else TRAIN_CONTROLS
    knobs = _knobs(panel)
    return tuple(n for n in names if n in knobs)


def control_specs(panel: str) -> dict[str, ControlSpec]:
    """{control: ControlSpec}: the widget each control of ``panel`` gets, from its knob's declaration."""
    knobs, narrowed = _knobs(panel), PANEL_RANGES[panel]
    out = {}
    for name in controls_of(panel):
        spec, limit = knobs[name], narrowed.get(name)
        if panel == "data" and name == "num_workers":  # the choices the knob's range allows
            choices = tuple(w for w in WORKER_CHOICES if spec.low <= w <= spec.high)
            out[name] = ControlSpec(name, spec, "toggles", choices)
        elif spec.kind is bool:
            out[name] = ControlSpec(name, spec, "checkbox")
        elif spec.choices is not None:
            out[name] = ControlSpec(name, spec, "dropdown", tuple(spec.choices()))
        elif isinstance(limit, tuple):
            out[name] = ControlSpec(name, spec, "dropdown", limit)
        else:
            limit = limit or {}
            low = limit.get("low", spec.low)
            high = limit.get("high", spec.widget_max or spec.high)
            step = limit.get("step", spec.step or (1 if spec.kind is int else round((high - low) / 20, 4) or 0.01))
            if spec.high_open and high == spec.high:
                high = spec.high - step
            out[name] = ControlSpec(name, spec, "slider", low=low, high=high, step=step)
    return out


def defaults(panel: str) -> dict:
    knobs = _knobs(panel)
    panel_defaults = DATA_DEFAULTS if panel == "data" else TRAIN_DEFAULTS
    return {n: panel_defaults.get(n, knobs[n].default) for n in controls_of(panel)}


def merged(panel: str, values: dict) -> dict:
    """The panel's defaults overlaid with ``values``; an unknown control is a FieldError naming it."""
    base = defaults(panel)
    unknown = [k for k in values if k not in base]
    if unknown:
        raise FieldError(unknown[0], values[unknown[0]], f"a {panel} control: one of " + ", ".join(base))
    return {**base, **values}


def worker_counts(value) -> tuple[int, ...]:
    """num_workers as a sorted tuple of distinct whole numbers (a single number is one value); their range
    is LoaderConfig's to check."""
    return whole_numbers("num_workers", value, example="(0, 1, 2)", one="number of workers")


def loader_configs(values: dict) -> list:
    """One LoaderConfig per num_workers, fewest first; a bad value is a FieldError naming the field."""
    v = merged("data", values)
    fixed = {k: x for k, x in v.items() if k != "num_workers"}
    return [loader_class()(num_workers=n, **fixed) for n in worker_counts(v["num_workers"])]


def train_config(values: dict):
    """The TrainConfig the training panel's controls select; a bad value is a FieldError naming the field."""
    v = merged("training", values)
    if v.get("data_kept") == 1.0 and "keep_by" in v:
        v["keep_by"] = "random"  # all data kept: how it would be chosen means nothing (one config, as lab.train.grid)
    return train_class()(**v)


def describe_loader(row) -> str:
    """'digits · memory · 2 workers · batch 64 · pinned · 0.2 ms/sample · digits-mlp' (a row, dict or config)."""
    row = row.to_dict() if hasattr(row, "to_dict") else row
    workers = int(_get(row, "num_workers", 0))
    parts = [str(_get(row, "dataset", "?")), str(_get(row, "storage", "?")),
             f"{workers} worker{'s' if workers != 1 else ''}", f"batch {int(_get(row, 'batch_size', 0))}"]
    if _get(row, "pin_memory", False) in (True, "True", "true", 1):
        parts.append("pinned")
    parts.append(f"{float(_get(row, 'sample_cost_ms', 0.0)):g} ms/sample")
    parts.append(str(_get(row, "model", "none")))
    return " · ".join(parts)


def describe_training(row, short: bool = False) -> str:
    """'digits-mlp · noise 0.2 · kept 0.5 (el2n) · batch 64 · bf16 · seed 0' (a row, dict or config);
    ``short`` leaves the model out (a legend where the model is the panel's)."""
    row = row.to_dict() if hasattr(row, "to_dict") else row
    parts = [] if short else [str(_get(row, "model", "?"))]
    if _get(row, "init", "scratch") != "scratch":
        parts.append(str(_get(row, "init")))
    parts.append(f"noise {float(_get(row, 'label_noise', 0.0)):g}")
    kept = float(_get(row, "data_kept", 1.0))
    parts.append(f"kept {kept:g}" + (f" ({_get(row, 'keep_by')})" if kept < 1 and _get(row, "keep_by") else ""))
    parts += [f"batch {int(_get(row, 'batch_size', 0))}", str(_get(row, "precision", "fp32")),
              f"seed {int(_get(row, 'seed', 0))}"]
    return " · ".join(parts)
