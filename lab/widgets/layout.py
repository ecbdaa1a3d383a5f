"""The dashboard's controls: one widget per knob, and how they constrain each other.

    controls = Controls(values, on_change=lambda name: ...)
    controls.values()          # {'model': ..., 'batch_sizes': (1, 8, 64), ...}: lab.dashboard.controls' input
    controls.apply(values)     # set widgets as a user would, without firing on_change

Options this hardware can't run (fp8 without an Ada/Hopper GPU, 2:4 without an
Ampere GPU, int8-dynamic off the CPU) stay in their dropdowns, labelled
"fp8 — ✕ needs a CUDA GPU ...": ipywidgets can't disable single options of a
Dropdown (nor single buttons of a ToggleButtons), hiding them would hide what the
lab can do elsewhere, and a row of per-option buttons doesn't fit ten schemes. The
panel refuses such a choice before anything runs, with the whole reason in its
error area, and the selection stays so the user sees why.

Batch sizes are a row of ToggleButtons, one per size (several at once: the curves
run over them). Sparsity is disabled without pruning and fixed at 0.5 for 2:4;
fine-tuning is disabled without pruning; threads apply to the CPU only.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable

import ipywidgets as W

from lab import hardware
from lab.config import KNOBS, implied
from lab.dashboard import controls
from lab.models import registry

_STYLE, _WIDE = {"description_width": "110px"}, "360px"


def labelled(kind: str, device: str) -> list[tuple[str, str]]:
    """(label, value) options for 'quant' or 'prune_method'; what ``device`` can't run says why."""
    reasons = controls.option_reasons(device)[kind]
    return [(name if why is None else f"{name} — ✕ {controls.short_reason(why)}", name)
            for name, why in reasons.items()]


def _models() -> list[tuple[str, str]]:
    return [(controls.model_label(name), name) for name in registry.names()]


def _options(name: str, device: str) -> list:
    """(label, value) options of a dropdown knob; what ``device`` can't run says why in its label."""
    if name in ("quant", "prune_method"):
        return labelled(name, device)
    if name == "model":
        return _models()
    if name == "device":
        return [(controls.device_label(d), d) for d in controls.device_options()]  # with a cluster's nodes
    return [(str(c), c) for c in KNOBS[name].choices()]


def _widget(name: str, value, device: str, common: dict):
    """The widget a knob declares (lab.config: widget=, label=, range, step), at ``value``."""
    spec = KNOBS[name]
    if spec.widget == "dropdown":
        return W.Dropdown(options=_options(name, device), value=value, description=spec.label, **common)
    if spec.widget == "checkbox":
        return W.Checkbox(value=value, description=spec.label, indent=False)
    if spec.widget == "slider":
        # threads end at this machine's cores; other sliders at the knob's widget_max or its range
        end = hardware.cpu_count() if name == "threads" else spec.widget_max or spec.high
        if spec.kind is int:
            return W.IntSlider(value=value if value is not None else end, min=int(spec.low), max=int(end),
                               description=spec.label, **common)
        return W.FloatSlider(value=value, min=spec.low, max=end, step=spec.step or (end - spec.low) / 20,
                             readout_format=".2f", description=spec.label, **common)
    raise ValueError(f"widget={spec.widget!r} is not allowed for knob {name}: dropdown, slider, checkbox, toggles")


class Controls:
    def __init__(self, values: dict, on_change: Callable[[str], None]):
        v = controls.effective(values)
        self.on_change = on_change
        self._quiet = 0
        self._saved_sparsity: float | None = None
        common = {"style": _STYLE, "layout": W.Layout(width=_WIDE)}
        start = {**v, "sparsity": v["sparsity"] or controls.DEFAULTS["sparsity"]}  # the slider rests at 0.5
        self.w = w = {name: _widget(name, start[name], v["device"], common)
                      for name in controls.CONTROLS if name != "batch_sizes"}
        self.batch = {b: W.ToggleButton(value=b in v["batch_sizes"], description=str(b), tooltip=f"batch size {b}",
                                        layout=W.Layout(width="38px", padding="0"))
                      for b in controls.BATCH_CHOICES}
        for name, widget in w.items():
            widget.add_class(f"lab-{name.replace('_', '-')}")
            widget.tooltip = KNOBS[name].help
            widget.observe(functools.partial(self._changed, name=name), names="value")
        w["quant"].add_class("lab-quant")
        for button in self.batch.values():
            button.observe(functools.partial(self._changed, name="batch_sizes"), names="value")
        # What the sparsity knob is a fraction of depends on the method (structured: channels): say so.
        self.sparsity_meaning = W.HTML("", layout=W.Layout(width=_WIDE)).add_class("lab-sparsity-meaning")
        children = []
        for name in controls.CONTROLS:
            if name == "batch_sizes":
                children += [W.Label(KNOBS["batch_size"].label),
                             W.HBox(list(self.batch.values())).add_class("lab-batch")]
            else:
                children.append(w[name])
            if name == "sparsity":
                children.append(self.sparsity_meaning)
        self.box = W.VBox(children)
        self.sync()

    @contextlib.contextmanager
    def quietly(self):
        """Change widgets without calling on_change (the panel's own adjustments)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _changed(self, change, name: str) -> None:
        if self._quiet:
            return
        if name == "device":
            self.relabel()
        self.sync()
        self.on_change(name)

    def sync(self) -> None:
        """What the pruning method fixes (lab.config.implied) is disabled; a pattern's sparsity is shown
        (2:4 -> 0.5, the user's value restored after); threads are the CPU's."""
        w, method = self.w, self.w["prune_method"].value
        fixes = implied({"prune_method": method})
        with self.quietly():
            pattern = fixes.get("sparsity") if method != "none" else None
            if pattern is not None and w["sparsity"].value != pattern:
                self._saved_sparsity, w["sparsity"].value = w["sparsity"].value, pattern
            elif pattern is None and self._saved_sparsity is not None:
                w["sparsity"].value, self._saved_sparsity = self._saved_sparsity, None
            for name in ("sparsity", "finetune_epochs"):
                w[name].disabled = name in fixes
            meaning = KNOBS["sparsity"].meaning.get(method, "")
            self.sparsity_meaning.value = f"<small>sparsity = {meaning}</small>" if meaning else ""
            w["threads"].disabled = w["device"].value != "cpu"

    def relabel(self) -> None:
        """Options the selected device can't run get their reason in the label."""
        with self.quietly():
            for kind in ("quant", "prune_method"):
                value = self.w[kind].value
                self.w[kind].options = labelled(kind, self.w["device"].value)
                self.w[kind].value = value

    def values(self) -> dict:
        """The controls' current values (lab.dashboard.controls.CONTROLS)."""
        out = {name: widget.value for name, widget in self.w.items()}
        out["batch_sizes"] = tuple(b for b, t in self.batch.items() if t.value)
        if out["device"] != "cpu":
            out["threads"] = None
        return {name: out[name] for name in controls.CONTROLS}

    def apply(self, values: dict) -> None:
        """Set the named controls (already validated) without calling on_change."""
        v = {**self.values(), **values}
        with self.quietly():
            if v["model"] not in [value for _, value in self.w["model"].options]:  # registered after the panel
                self.w["model"].options = _models()
            if "device" in values:
                self.w["device"].value = hardware.normalize_device(v["device"])
                self.relabel()
            for name in self.w:
                if name in values and name != "device" and values[name] is not None:
                    self.w[name].value = v[name]
            if "batch_sizes" in values:
                sizes = controls.batch_sizes(v["batch_sizes"])
                for size, button in self.batch.items():
                    button.value = size in sizes
        if "sparsity" in values:
            self._saved_sparsity = None
        self.sync()
