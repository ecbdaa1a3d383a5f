"""Efficiency Lab: measure what a model really costs to run, honestly.

    import lab
    row = lab.measure(lab.Config(model="digits-mlp", batch_size=64))
    df = lab.sweep(lab.grid(model="digits-mlp", batch_size=[1, 64], quant=["fp32", "bf16"]))
    bench = lab.Bench(budget="quick")        # the one path to the store that every front end takes
"""
from lab.version import MEASUREMENT_VERSION, __version__  # noqa: E402

from lab.bench import Bench, measure, sweep  # noqa: E402
from lab.budget import Budget  # noqa: E402
from lab.config import Config, grid  # noqa: E402
from lab.errors import FieldError  # noqa: E402
from lab.models.registry import register_model  # noqa: E402
from lab.sensitivity import sensitivity_scan  # noqa: E402

__all__ = ["Config", "grid", "measure", "sweep", "sensitivity_scan", "Bench", "Budget", "FieldError",
           "register_model", "Dashboard", "__version__", "MEASUREMENT_VERSION"]


def __getattr__(name):  # lazy: ipywidgets loads only when the dashboard is used
    if name == "Dashboard":
        from lab.widgets import Dashboard
        return Dashboard
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
