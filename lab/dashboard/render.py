"""The lock every matplotlib figure of the dashboard is made and drawn under.

Matplotlib is not thread-safe: the live view (lab.dashboard.views, drawn by the worker thread
and, on a hover or a resize, by the kernel's), the canvas that shows it (lab.widgets.canvas) and
the saved seven-panel figure (lab.dashboard.files) all hold ``MPL_LOCK``; none uses pyplot.
"""
from __future__ import annotations

import threading

MPL_LOCK = threading.RLock()
