"""Efficiency Lab: measure what a model really costs to run, honestly.

    import lab
    row = lab.measure(lab.Config(model="digits-mlp", batch_size=64))
    df = lab.sweep(lab.grid(model="digits-mlp", batch_size=[1, 64], quant=["fp32", "bf16"]))
"""
__version__ = "0.1.0"

from lab.config import Config, grid  # noqa: E402
from lab.models.registry import register_model  # noqa: E402
from lab.runner import Budget, measure, sensitivity_scan, sweep  # noqa: E402

__all__ = ["Config", "grid", "measure", "sweep", "sensitivity_scan", "Budget", "register_model", "Dashboard",
           "__version__"]


def __getattr__(name):  # lazy: ipywidgets loads only when the dashboard is used
    if name == "Dashboard":
        from lab.widgets import Dashboard
        return Dashboard
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
