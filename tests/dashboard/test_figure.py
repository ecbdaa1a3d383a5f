"""lab.dashboard.figure: the roofline panel and the card of the current selection, redrawn in place."""
from dashboard_rows import BF16, costed_rows


def _card(fig):
    from lab.dashboard import figure

    return {t.get_gid(): t.get_text() for t in fig.texts if t.get_gid() in figure.CARD_GIDS}


def test_the_figure_has_a_log_log_roofline_panel_and_a_card_of_the_current_selection():
    from lab.dashboard.figure import CARD_GID, CARD_NOTE_GID, CARD_UNITS_GID, ROOFLINE, dashboard_figure

    fig = dashboard_figure(costed_rows(), current=BF16)
    ax = fig.axes[ROOFLINE]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "FLOP/byte" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
    points = [c for c in ax.collections if c.get_gid() != "lab-current"]
    assert sum(len(c.get_offsets()) for c in points) == 6
    (star,) = [c for c in ax.collections if c.get_gid() == "lab-current"]
    assert star.get_offsets().tolist() == [[0.25, 0.25], [2.0, 2.0], [16.0, 16.0]]  # the bf16 rows
    card = _card(fig)                                          # bf16 at the trade-off batch size, 1
    assert card[CARD_GID].split("\n") == ["", "1", "5", "0.246", "9.12", "1%", "memory"]
    assert "g CO2e / 1k samples" in card[CARD_UNITS_GID] and "USD / 1M samples" in card[CARD_UNITS_GID]
    assert "mJ / sample, estimate" in card[CARD_UNITS_GID]
    assert card[CARD_NOTE_GID].split("\n")[0] == "energy: estimate, 10 W per busy core"
    assert "grid 380 g/kWh, DE" in card[CARD_NOTE_GID] and "price 0.089 USD/h, aws-c7i.large" in card[CARD_NOTE_GID]


def test_the_in_place_redraw_reuses_the_figure_and_its_axes_and_moves_the_roofline_highlight():
    from lab.dashboard.figure import CARD_GID, PANELS, ROOFLINE, dashboard_figure

    fig = dashboard_figure(costed_rows(), current=BF16)
    axes = list(fig.axes)
    again = dashboard_figure(costed_rows(), current=["fp32-1", "fp32-8", "fp32-64"], fig=fig)
    assert again is fig and len(fig.axes) == PANELS and all(a is b for a, b in zip(fig.axes, axes))
    (star,) = [c for c in fig.axes[ROOFLINE].collections if c.get_gid() == "lab-current"]
    assert star.get_offsets().tolist() == [[0.25, 0.5], [2.0, 4.0], [16.0, 32.0]]  # now the fp32 rows
    assert _card(fig)[CARD_GID].split("\n")[2:4] == ["2.5", "0.123"]
    assert len([t for t in fig.texts if t.get_gid() == CARD_GID]) == 1  # the card's texts are reused


def test_rows_stored_before_the_new_columns_still_draw_with_an_empty_roofline_panel():
    from lab.dashboard.figure import CARD_GID, NO_ROOFLINE, ROOFLINE, dashboard_figure
    from lab.dashboard.files import table_html

    new = [c for c in costed_rows() if c not in ("model", "quant", "batch_size", "config_id", "error", "metric",
                                                 "accuracy", "energy_source")
           and not c.startswith(("latency", "throughput", "peak_mem", "energy_mj"))]
    old = costed_rows().drop(columns=new)
    fig = dashboard_figure(old, current=BF16)
    ax = fig.axes[ROOFLINE]
    assert [t.get_text() for t in ax.texts] == [NO_ROOFLINE] and not ax.collections
    assert _card(fig)[CARD_GID].split("\n")[3:] == ["–", "–", "–", "–"]
    dashboard_figure(costed_rows(), current=BF16, fig=fig)          # new rows after old: log-log again
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log") and ax.collections
    dashboard_figure(old, current=BF16, fig=fig)                    # and back: linear, empty state
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "linear")
    assert "CO2e" not in table_html(old) and "lab-energy-note" not in table_html(old)
