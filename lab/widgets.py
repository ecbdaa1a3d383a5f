"""Widgets: the live dashboard. The implementation lives in lab/dashboard/ (panel.py imports ipywidgets)."""
from lab.dashboard.controls import configs_from_controls
from lab.dashboard.panel import QUICK_BUDGET, Dashboard

__all__ = ["Dashboard", "configs_from_controls", "QUICK_BUDGET"]
