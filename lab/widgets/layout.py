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
from lab.dashboard import controls
from lab.models import registry
from lab.transforms.prune import METHODS

_STYLE, _WIDE = {"description_width": "110px"}, "360px"


def labelled(kind: str, device: str) -> list[tuple[str, str]]:
    """(label, value) options for 'quant' or 'prune_method'; what ``device`` can't run says why."""
    reasons = controls.option_reasons(device)[kind]
    return [(name if why is None else f"{name} — ✕ {controls.short_reason(why)}", name)
            for name, why in reasons.items()]


def _models() -> list[tuple[str, str]]:
    return [(controls.model_label(name), name) for name in registry.names()]


class Controls:
    def __init__(self, values: dict, on_change: Callable[[str], None]):
        v = controls.effective(values)
        self.on_change = on_change
        self._quiet = 0
        self._saved_sparsity: float | None = None
        layout = W.Layout(width=_WIDE)
        common = {"style": _STYLE, "layout": layout}
        self.w = w = {
            "model": W.Dropdown(options=_models(), value=v["model"], description="model", **common),
            "prune_method": W.Dropdown(options=labelled("prune_method", v["device"]), value=v["prune_method"],
                                       description="pruning", **common),
            "sparsity": W.FloatSlider(value=v["sparsity"] or controls.DEFAULTS["sparsity"], min=0.0,
                                      max=controls.SPARSITY_MAX, step=controls.SPARSITY_STEP, readout_format=".2f",
                                      description="sparsity", **common),
            "finetune_epochs": W.IntSlider(value=v["finetune_epochs"], min=0, max=controls.FINETUNE_MAX,
                                           description="fine-tune epochs", **common),
            "quant": W.Dropdown(options=labelled("quant", v["device"]), value=v["quant"], description="quant",
                                **common),
            "device": W.Dropdown(options=[(controls.device_label(d), d) for d in hardware.available_devices()],
                                 value=v["device"], description="hardware", **common),
            "threads": W.IntSlider(value=v["threads"] or hardware.cpu_count(), min=1, max=hardware.cpu_count(),
                                   description="threads (cpu)", **common),
            "compile": W.Checkbox(value=v["compile"], description="torch.compile", indent=False),
        }
        self.batch = {b: W.ToggleButton(value=b in v["batch_sizes"], description=str(b), tooltip=f"batch size {b}",
                                        layout=W.Layout(width="38px", padding="0"))
                      for b in controls.BATCH_CHOICES}
        w["sparsity"].add_class("lab-sparsity")
        w["quant"].add_class("lab-quant")
        for name, widget in w.items():
            widget.observe(functools.partial(self._changed, name=name), names="value")
        for button in self.batch.values():
            button.observe(functools.partial(self._changed, name="batch_sizes"), names="value")
        self.box = W.VBox([w["model"], w["prune_method"], w["sparsity"], w["finetune_epochs"], w["quant"],
                           W.Label("batch sizes (samples)"), W.HBox(list(self.batch.values())).add_class("lab-batch"),
                           w["device"], w["threads"], w["compile"]])
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
        """Sparsity means nothing without pruning and is fixed by a pattern (2:4); threads are the CPU's."""
        w, method = self.w, METHODS[self.w["prune_method"].value]
        with self.quietly():
            fixed = method.fixed_sparsity
            if fixed is not None and w["sparsity"].value != fixed:
                self._saved_sparsity, w["sparsity"].value = w["sparsity"].value, fixed
            elif fixed is None and self._saved_sparsity is not None:
                w["sparsity"].value, self._saved_sparsity = self._saved_sparsity, None
            w["sparsity"].disabled = method.name == "none" or fixed is not None
            w["finetune_epochs"].disabled = method.name == "none"
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
        w = self.w
        device = w["device"].value
        return {"model": w["model"].value, "prune_method": w["prune_method"].value,
                "sparsity": w["sparsity"].value, "finetune_epochs": w["finetune_epochs"].value,
                "quant": w["quant"].value, "batch_sizes": tuple(b for b, t in self.batch.items() if t.value),
                "device": device, "threads": w["threads"].value if device == "cpu" else None,
                "compile": w["compile"].value}

    def apply(self, values: dict) -> None:
        """Set the named controls (already validated) without calling on_change."""
        v = {**self.values(), **values}
        with self.quietly():
            if v["model"] not in self.w["model"].options:  # registered after the panel was made
                self.w["model"].options = _models()
            if "device" in values:
                self.w["device"].value = hardware.normalize_device(v["device"])
                self.relabel()
            for name in ("model", "prune_method", "sparsity", "finetune_epochs", "quant", "compile"):
                if name in values:
                    self.w[name].value = v[name]
            if values.get("threads") is not None:
                self.w["threads"].value = v["threads"]
            if "batch_sizes" in values:
                sizes = controls.batch_sizes(v["batch_sizes"])
                for size, button in self.batch.items():
                    button.value = size in sizes
        if "sparsity" in values:
            self._saved_sparsity = None
        self.sync()
