"""The live lab: ``Dashboard`` (ipywidgets panel), split so the logic is testable without widgets.

    controls.py  control values -> configs (pure), options this hardware can't run, with reasons
    worker.py    the background worker: newest selection wins, store hits at once, rows committed
    views.py     the live view: the panel or pair the user picks, drawn large, updated in place; hit-testing
    describe.py  what a point is in words: hover text, the controls that select it, the card
    figure.py    the seven panels of lab.plots and a card on one Figure: what "save figure" writes
    render.py    MPL_LOCK, which every figure of the dashboard is drawn under
    files.py     the rows table; saving figures (with their rows) and exporting rows

The widgets themselves (the only modules importing ipywidgets) are in lab/widgets/:
layout.py, panel.py and canvas.py (the ipympl canvas). Importing this package does not import ipywidgets;
``Dashboard`` loads it on first use.
"""
from lab.dashboard.controls import configs_from_controls

__all__ = ["configs_from_controls"]  # the widget panel itself is lab.widgets.Dashboard (lab.Dashboard)
