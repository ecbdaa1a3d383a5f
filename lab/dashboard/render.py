"""The live figure: lab.dashboard.figure redrawn to PNG bytes, fast enough to follow every point.

A fresh seven-panel figure costs ~0.5 s on a busy 2-core CPU; most of it is
making axes and ticks and drawing tick labels. So one Figure is kept and
redrawn in place, and its static layer (frames, ticks, labels: everything but
the data) is kept as a bitmap, reused while the axes' limits, labels and
titles stay the same (a new point inside the current ranges, a toggle back).
When the rows did not change at all (a toggle back to a configuration already
on the plot) the data artists are not even rebuilt: restyle() moves the
highlight. The data layer is always drawn on top of the static one, so every
path gives the same image (tested).

Matplotlib is not thread-safe: every figure the dashboard makes (this one,
saved copies) is made and drawn under ``MPL_LOCK``, and none uses pyplot.
"""
from __future__ import annotations

import io
import threading
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg

from lab.dashboard.figure import DATA_TEXT_GIDS, dashboard_figure, restyle, tradeoff_batch

MPL_LOCK = threading.RLock()


def _data_artists(fig) -> list:
    """The data layer: every line, band, scatter and text in the axes, the caption and the card
    (the legend is static)."""
    out = [text for text in fig.texts if text.get_gid() in DATA_TEXT_GIDS]
    for ax in fig.axes:
        out += [*ax.lines, *ax.collections, *ax.patches, *ax.texts]
    return out


class LiveFigure:
    """``png(df, current, version)`` -> PNG bytes of the dashboard figure.

    version: anything that changes whenever ``df`` does (the session's row count
    and last id); the static layer is reused while version and the trade-off
    panels' batch size stay the same.
    """

    def __init__(self, dpi: float = 72, figsize=(12.5, 6.6)):
        self.dpi, self.figsize = dpi, figsize
        self.fig = None
        self._canvas = None
        self._background = None
        self._key = None
        self._static = None
        self.last_s = 0.0  # seconds the last redraw took
        self.fast = 0   # redraws that reused the static layer (for tests and benchmarks)
        self.full = 0

    def png(self, df, current=None, version=None) -> bytes:
        started = time.perf_counter()
        try:
            return self._png(df, current, version)
        finally:
            self.last_s = time.perf_counter() - started

    def _png(self, df, current, version) -> bytes:
        with MPL_LOCK:
            key = (version, tradeoff_batch(df, current)) if version is not None else None
            if key is not None and key == self._key and self.fig is not None:
                # Same rows, same trade-off batch size: only the highlight moves.
                restyle(self.fig, df, current)
                fig = self.fig
            else:
                fig = dashboard_figure(df, current, fig=self.fig, dpi=self.dpi, figsize=self.figsize)
                if fig is not self.fig:
                    self.fig, self._canvas, self._background = fig, FigureCanvasAgg(fig), None
                self._key = key
            dynamic = _data_artists(fig)
            for artist in dynamic:
                artist.set_animated(True)
            static = _static_signature(fig)
            if self._background is not None and static == self._static:
                self._canvas.restore_region(self._background)  # same limits, ticks and labels as before
                self.fast += 1
            else:
                self._canvas.draw()  # the static layer only: animated artists are skipped
                self._background, self._static = self._canvas.copy_from_bbox(fig.bbox), static
                self.full += 1
            renderer = self._canvas.get_renderer()
            for artist in sorted(dynamic, key=lambda a: a.get_zorder()):
                artist.draw(renderer)
            return _encode(self._canvas)


def _static_signature(fig) -> tuple:
    """What the static layer is made of: axis limits, scales, labels and titles (ticks follow from them),
    the legend and the figure's static texts."""
    return tuple((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel(),
                  ax.get_title(), ax.get_title(loc="right")) for ax in fig.axes) + \
        ((fig._suptitle.get_text() if fig._suptitle is not None else None), tuple(fig.get_size_inches()),
         tuple(getattr(legend, "_lab_key", id(legend)) for legend in fig.legends),  # labels, colours
         tuple(text.get_text() for text in fig.texts if text.get_gid() not in DATA_TEXT_GIDS))  # the card's note


def _encode(canvas) -> bytes:
    from PIL import Image

    width, height = canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="png", compress_level=1)  # fast: redrawn on every point
    return buffer.getvalue()
