"""Widgets: the only package that imports ipywidgets (DESIGN: widget code is a thin adapter).

    layout.py    the control widgets and how they constrain each other
    panel.py     Dashboard: requests, worker events, redraws, public API
    live_panel.py, data_train_panel.py   DataTrainDashboard: the data and training panels (lab.data, lab.train)

The logic they adapt lives in lab/dashboard/ and is tested without widgets.
"""
from lab.dashboard.controls import configs_from_controls
from lab.widgets.data_train_panel import DataTrainDashboard
from lab.widgets.panel import Dashboard

__all__ = ["Dashboard", "DataTrainDashboard", "configs_from_controls"]
