"""The dashboard's live canvas: an ipympl canvas whose every draw renders through the view.

ipympl (matplotlib's widget backend) makes the figure a live canvas with pan, zoom and mouse
events; this subclass makes each draw, whoever asks for it (the worker, a hover, the browser on
resize), go through lab.dashboard.views.FocusView.render under MPL_LOCK, and sends its frames as
PNG diffs compressed for speed.
"""
from __future__ import annotations

from lab.dashboard.render import MPL_LOCK


def live_canvas(view):
    """An ipympl canvas for ``view``'s figure whose every draw, whoever asks (the worker, a hover, the
    browser on resize), renders through the view under MPL_LOCK: data on top of the reused static layer."""
    from ipympl.backend_nbagg import Canvas, FigureManager

    class LiveCanvas(Canvas):
        last_mode = ""

        def draw(self):
            with MPL_LOCK:
                self._png_is_old = True
                try:
                    self.last_mode = view.render(self)
                finally:
                    self.manager.refresh_all()  # the changed pixels to the browser

        def get_diff_image(self):
            """matplotlib's webagg diff frame, PNG-encoded at zlib level 1 instead of 6: a third of the
            time (~12 -> ~4 ms a frame) for a frame that is mostly unchanged (zero) pixels."""
            import io

            import numpy as np
            from PIL import Image

            if not self._png_is_old:
                return None
            buff = np.asarray(self.get_renderer().buffer_rgba()).view(np.uint32).squeeze(2)
            if self._force_full or buff.shape != self._last_buff.shape:
                self.set_image_mode("full")
                output = buff
            else:
                self.set_image_mode("diff")
                output = np.where(buff != self._last_buff, buff, 0)
            self._last_buff, self._force_full, self._png_is_old = buff.copy(), False, False
            with io.BytesIO() as png:
                Image.fromarray(output.view(np.uint8).reshape((*output.shape, 4))).save(png, format="png",
                                                                                        compress_level=1)
                return png.getvalue()

    canvas = LiveCanvas(view.fig)
    FigureManager(canvas, 0)
    canvas.header_visible = canvas.footer_visible = canvas.resizable = canvas.capture_scroll = False
    canvas.toolbar_position = "left"
    # The browser's first paint, before its first frame arrives: the figure as a data URL (ipympl sets
    # it only when a canvas is displayed on its own, not inside a box). Frames then come as binary diffs.
    import base64
    import io

    with MPL_LOCK:
        view.render(canvas)
        buffer = io.BytesIO()
        view.fig.savefig(buffer, format="png", dpi=view.fig.dpi)
    canvas._data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    canvas.syncing_data_url = False
    canvas.add_class("lab-plot")
    return canvas


def canvas_png(canvas) -> bytes:
    """``canvas`` as it was last rendered, as PNG bytes (tests compare frames)."""
    import io

    from PIL import Image

    with MPL_LOCK:
        width, height = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="png", compress_level=1)
    return out.getvalue()
