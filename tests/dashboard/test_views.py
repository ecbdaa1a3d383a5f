"""lab.dashboard.views: the large live view — which panels, redrawn in place, what the point under the mouse is."""
import pandas as pd
import pytest

from lab.dashboard import describe
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dashboard_rows import BF16, costed_rows
from lab.dashboard import views
from lab.dashboard.views import PANELS, FocusView, layout


def test_layout_is_one_panel_or_a_pair_and_names_a_bad_panel():
    assert layout("latency") == ("latency",) and layout("latency", "") == ("latency",)
    assert layout("latency", "latency") == ("latency",)
    assert layout("accuracy-energy", "roofline") == ("accuracy-energy", "roofline")
    with pytest.raises(ValueError, match="^panel='speed'"):
        layout("speed")


def test_the_focus_panel_is_large_and_readable():
    view = FocusView(("latency",))
    width_px = view.fig.bbox.width                       # CSS px: ipympl shows a figure at its dpi
    assert width_px >= 600
    ax = view.axes["latency"]
    view.update(costed_rows(), BF16, version=1)
    px = lambda pt: pt * view.fig.dpi / 72                # noqa: E731
    assert px(ax.xaxis.label.get_fontsize()) >= 10 and px(ax.yaxis.label.get_fontsize()) >= 10
    assert all(px(t.get_fontsize()) >= 10 for t in ax.get_xticklabels() + ax.get_yticklabels())
    assert not view.fig.legends                          # the legend is HTML under the canvas
    assert [label for label, _ in view.legend_items] == ["fp32", "bf16"] and describe.LEGEND_PX >= 10
    assert ax.bbox.width >= 600                           # the axes itself, not only the canvas
    view.show(layout("latency", "roofline"))
    assert all(a.bbox.width >= 600 for a in view.axes.values())


@pytest.mark.parametrize("panel", list(PANELS))
def test_every_panel_marks_the_current_configuration(panel):
    view = FocusView((panel,))
    view.update(costed_rows(), BF16, version=1)
    (star,) = [c for c in view.axes[panel].collections if c.get_gid() == "lab-current"]
    assert len(star.get_offsets()) >= 1                   # bf16 (all batch sizes, or the trade-off's one)


def test_only_the_shown_panels_are_drawn_and_a_toggle_back_only_restyles():
    view = FocusView(("energy",))
    canvas = FigureCanvasAgg(view.fig)
    assert view.update(costed_rows(), BF16, version=1) == "full" and list(view.axes) == ["energy"]
    view.render(canvas)
    assert view.update(costed_rows(), ["fp32-1", "fp32-8", "fp32-64"], version=1) == "restyle"
    assert view.render(canvas) == "fast"                   # same axes: the static layer's bitmap reused
    fast = bytes(canvas.buffer_rgba())
    fresh = FocusView(("energy",))
    fresh.update(costed_rows(), ["fp32-1", "fp32-8", "fp32-64"], version=1)
    other = FigureCanvasAgg(fresh.fig)
    assert fresh.render(other) == "full" and bytes(other.buffer_rgba()) == fast  # every path, the same pixels


def test_a_new_series_inside_the_axes_is_a_fast_frame_and_a_new_legend_line():
    """The first point of a new selection adds a series but leaves the axes: the static bitmap is
    reused (the legend is HTML, not in it), and the legend lists the new series in its colour."""
    rows = costed_rows()
    view = FocusView(("latency",))
    canvas = FigureCanvasAgg(view.fig)
    view.update(rows[rows["quant"] == "fp32"], ["fp32-1", "fp32-8", "fp32-64"], version=1)
    view.axes["latency"].set_ylim(0.5, 200)  # fixed limits, as when the new point falls inside them
    assert view.render(canvas) == "full"
    one_more = rows[(rows["quant"] == "fp32") | (rows["config_id"] == "bf16-1")]
    view.update(one_more, ["bf16-1"], version=2)
    view.axes["latency"].set_ylim(0.5, 200)
    assert view.render(canvas) == "fast"
    html = describe.legend_html(view.legend_items, view.legend_hidden, view.legend_pareto)
    (colour,) = [c for label, c in view.legend_items if label == "bf16"]
    assert "bf16" in html and colour in html and "current" in html and "Pareto" not in html


def test_hit_finds_the_point_under_the_mouse_and_mark_shows_its_tooltip():
    view = FocusView(("latency",))
    canvas = FigureCanvasAgg(view.fig)
    view.update(costed_rows(), BF16, version=1)
    view.render(canvas)
    x, y = view.position("latency", "bf16-8")
    assert view.hit(x + 3, y - 3)["config_id"] == "bf16-8"
    assert view.hit(x + 40, y + 40) is None               # nowhere near a point
    assert view.mark(view.hit(x, y), (x, y)) and not view.mark(view.hit(x, y), (x, y))  # changed once
    (tip,) = [t for t in view.axes["latency"].texts if t.get_gid() == views.HOVER_GID]
    assert tip.get_text().startswith("digits-mlp · batch 8 · bf16")
    assert view.render(canvas) == "fast" and view.mark(None) and not view.axes["latency"].texts


def test_the_palette_is_seaborns_colorblind_without_importing_seaborn():
    import seaborn as sns

    from lab.plots import palette

    assert palette() == tuple(sns.color_palette("colorblind"))


def test_every_font_is_at_least_10_px_at_the_canvas_dpi():
    assert min(views.FONT_PT.values()) * views.DPI / 72 >= 10


def test_the_legend_lists_the_newest_series_says_how_many_are_older_and_what_marks_mean():
    view = FocusView(("accuracy-latency",))
    rows = costed_rows()
    many = pd.concat([rows.assign(quant=f"q{i}", config_id=rows["config_id"] + f"-{i}") for i in range(10)])
    view.update(many, None, version=1)
    assert len(view.legend_items) == 8 and view.legend_hidden == 2 and view.legend_pareto
    html = describe.legend_html(view.legend_items, view.legend_hidden, view.legend_pareto)
    assert "+2 older series" in html and "Pareto front" in html and "q9" in html and "q0" not in html
    assert describe.legend_html([], 0, False) == ""
