"""The live lab: ``Dashboard`` (ipywidgets panel), split so the logic is testable without widgets.

    controls.py  control values -> configs (pure), options this hardware can't run, with reasons
    worker.py    the background worker: newest selection wins, store hits at once, rows committed
    figure.py    the seven panels of lab.plots (with the roofline) and a card on one Figure, redrawn in place; restyle() moves a highlight
    render.py    that figure to PNG bytes, reusing its static layer while limits and labels stay
    files.py     the rows table; saving figures (with their rows) and exporting rows

The widgets themselves (the only modules importing ipywidgets) are in lab/widgets/:
layout.py and panel.py. Importing this package does not import ipywidgets;
``Dashboard`` loads it on first use.
"""
from lab.dashboard.controls import configs_from_controls

__all__ = ["configs_from_controls"]  # the widget panel itself is lab.widgets.Dashboard (lab.Dashboard)
