"""The dashboard, headless: control values -> configs (pure), and the panel driven with a fake runner."""
import threading
import time

import pandas as pd
import pytest

from lab import hardware
from lab.dashboard import controls
from lab.store import Store
from lab.widgets import Dashboard, configs_from_controls

CORES = hardware.cpu_count()


# --- control values -> configs ------------------------------------------------------------------

def test_one_config_per_batch_size_smallest_first():
    configs = configs_from_controls({"model": "digits-cnn", "quant": "bf16", "batch_sizes": (64, 1, 8, 8),
                                     "threads": 1})
    assert [c.batch_size for c in configs] == [1, 8, 64]
    assert {(c.model, c.quant, c.threads, c.device, c.prune_method, c.sparsity) for c in configs} == \
        {("digits-cnn", "bf16", 1, "cpu", "none", 0.0)}


def test_sparsity_and_finetuning_mean_nothing_without_pruning():
    (config,) = configs_from_controls({"prune_method": "none", "sparsity": 0.7, "finetune_epochs": 3,
                                       "batch_sizes": (1,)})
    assert (config.sparsity, config.finetune_epochs) == (0.0, 0)
    (config,) = configs_from_controls({"prune_method": "structured", "sparsity": 0.3, "finetune_epochs": 2,
                                       "batch_sizes": 4})
    assert (config.prune_method, config.sparsity, config.finetune_epochs) == ("structured", 0.3, 2)


def test_two_four_fixes_sparsity_and_slider_noise_is_rounded():
    (config,) = configs_from_controls({"prune_method": "2:4", "sparsity": 0.3, "batch_sizes": (1,)})
    assert config.sparsity == 0.5
    a, = configs_from_controls({"prune_method": "unstructured", "sparsity": 0.1 + 0.2, "batch_sizes": (1,)})
    b, = configs_from_controls({"prune_method": "unstructured", "sparsity": 0.3, "batch_sizes": (1,)})
    assert a.config_id == b.config_id


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(hardware, "available_devices", lambda: ["cpu", "cuda:0"])
    monkeypatch.setattr(hardware, "device_name", lambda d: "Fake GPU" if d.startswith("cuda") else "Fake CPU")


def test_threads_only_for_the_cpu(fake_gpu):
    (cpu,) = configs_from_controls({"device": "cpu", "threads": 1, "batch_sizes": (1,)})
    (gpu,) = configs_from_controls({"device": "cuda", "threads": 1, "batch_sizes": (1,)})
    assert cpu.threads == 1
    assert gpu.device == "cuda:0" and gpu.threads == CORES   # the control is ignored: Config's default


@pytest.mark.parametrize("values, field", [
    ({"colour": "red"}, "colour"),
    ({"batch_sizes": ()}, "batch_sizes"),
    ({"batch_sizes": (0, 8)}, "batch_sizes"),
    ({"batch_sizes": "8"}, "batch_sizes"),
    ({"model": "resnet-9000"}, "model"),
    ({"threads": CORES + 1}, "threads"),
    ({"prune_method": "unstructured", "sparsity": 0.99}, "sparsity"),
    ({"quant": "int3"}, "quant"),
    ({"prune_method": "magic"}, "prune_method"),
    ({"device": "tpu"}, "device"),
    ({"compile": "yes"}, "compile"),
])
def test_bad_values_name_the_field(values, field):
    with pytest.raises(ValueError, match=f"^{field}="):
        configs_from_controls(values)


def test_refusal_gives_the_reason_this_hardware_cannot_run_it(fake_gpu):
    assert controls.refusal({"quant": "fp32"}) is None
    assert "fp8" in controls.refusal({"quant": "fp8"})
    assert "2:4" in controls.refusal({"prune_method": "2:4"})
    assert "cpu" in controls.refusal({"quant": "int8-dynamic", "device": "cuda:0"})
    reasons = controls.option_reasons("cpu")
    assert reasons["quant"]["fp32"] is None and reasons["quant"]["fp8"]
    assert reasons["prune_method"]["unstructured"] is None and reasons["prune_method"]["2:4"]


# --- the panel with a fake runner ---------------------------------------------------------------

SPEED = {"fp32": 1.0, "bf16": 0.5, "int8-dynamic": 0.3}


class FakeRunner:
    """Rows with known numbers; optionally blocks (gate) or fails (fail) for chosen configs."""

    def __init__(self, gate=None, fail=None, error=None):
        self.calls, self.gate, self.fail, self.error = [], gate, fail, error
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, config):
        self.calls.append(config)
        if self.gate and self.gate(config):
            self.entered.set()
            assert self.release.wait(10)
        if self.fail and self.fail(config):
            raise RuntimeError(f"fake failure at batch {config.batch_size}")
        k = SPEED.get(config.quant, 2.0)
        lat = k * config.batch_size
        return {"latency_ms_p50": lat, "latency_ms_p90": 1.1 * lat, "latency_ms_p99": 1.2 * lat,
                "throughput_sps": config.batch_size / lat * 1e3, "peak_mem_mib": 0.1 * config.batch_size,
                "energy_mj_per_sample": k, "energy_source": "estimate", "accuracy": 0.9 + 0.01 * k,
                "metric": "accuracy", "samples": 10, "noisy": False,
                "error": self.error(config) if self.error else None}

    def measured(self):
        return [(c.quant, c.batch_size) for c in self.calls]


@pytest.fixture
def panel(tmp_path):
    made = []

    def make(runner, **kwargs):
        kwargs.setdefault("store", Store(tmp_path / "store.sqlite"))
        kwargs.setdefault("batch_sizes", (1, 8))
        dash = Dashboard(runner=runner, debounce_s=kwargs.pop("debounce_s", 0.05), **kwargs)
        made.append(dash)
        return dash

    yield make
    for dash in made:
        dash.close()


def test_a_toggle_measures_in_the_background_commits_rows_and_redraws(panel, tmp_path):
    runner = FakeRunner(gate=lambda c: c.quant == "bf16")
    dash = panel(runner)
    assert dash.wait(20)
    first = bytes(dash.image.value)
    assert first.startswith(b"\x89PNG") and dash.points.value == "2"
    started = time.perf_counter()
    dash.set(quant="bf16")                              # returns at once: the runner is blocked
    assert time.perf_counter() - started < 1.0 and runner.entered.wait(5)
    assert not dash.wait(0.05)
    runner.release.set()
    assert dash.wait(20)
    assert bytes(dash.image.value) != first
    assert runner.measured() == [("fp32", 1), ("fp32", 8), ("bf16", 1), ("bf16", 8)]
    assert len(Store(tmp_path / "store.sqlite")) == 4   # every row committed as measured
    assert dash.points.value == "4" and list(dash.rows["quant"]) == ["fp32", "fp32", "bf16", "bf16"]
    assert "done" in dash.status.value and "quick mode" not in dash.status.value


def test_points_appear_one_by_one(panel):
    runner = FakeRunner()
    seen = []
    dash = panel(runner, batch_sizes=(1, 2, 4), autostart=False)
    dash.image.observe(lambda change: seen.append(len(runner.calls)), names="value")
    dash.set(quant="bf16")
    assert dash.wait(20)
    assert seen == [0, 1, 2, 3]    # the empty axes, then a redraw after each configuration
    assert [entry[1] for entry in dash.redraw_log] == [0, 1, 2, 3]


def test_a_second_toggle_cancels_the_stale_work(panel):
    runner = FakeRunner(gate=lambda c: c.quant == "fp32" and c.batch_size == 1)
    states = []
    dash = panel(runner, batch_sizes=(1, 2, 4), autostart=False)
    dash.image.observe(lambda change: states.append(tuple(dash.rows.get("quant", ()))), names="value")
    dash.set(quant="fp32")
    assert runner.entered.wait(5)
    dash.set(quant="bf16")                                # while fp32 batch 1 is in flight
    runner.release.set()
    assert dash.wait(20)
    assert runner.measured() == [("fp32", 1), ("bf16", 1), ("bf16", 2), ("bf16", 4)]
    assert ("fp32",) not in states                        # the stale row was never drawn as the selection
    assert states[-1] == ("fp32", "bf16", "bf16", "bf16")  # but it is kept (and stored): it was measured
    assert dash.shown == [c.config_id for c in configs_from_controls(dash.values())]


def test_a_configuration_measured_before_comes_from_the_store(panel, tmp_path):
    runner = FakeRunner()
    dash = panel(runner)
    assert dash.wait(20)
    dash.set(quant="bf16")
    assert dash.wait(20)
    before, image = len(runner.calls), bytes(dash.image.value)
    dash.set(quant="fp32")                                 # toggle back
    assert dash.wait(20)
    assert len(runner.calls) == before and bytes(dash.image.value) != image
    assert "0 measured, 2 stored before" in dash.status.value
    fresh = FakeRunner()                                   # a new panel (a new kernel) on the same store
    again = panel(fresh, quant="bf16")
    assert again.wait(20)
    assert fresh.calls == [] and list(again.rows["from_store"]) == [True, True]


def test_runner_errors_and_error_rows_show_in_the_panel(panel):
    runner = FakeRunner(fail=lambda c: c.batch_size == 8,
                        error=lambda c: "unsupported: no int8 here" if c.quant == "int8-dynamic" else None)
    dash = panel(runner)
    assert dash.wait(20)
    assert "fake failure at batch 8" in dash.error.value and "RuntimeError" in dash.error.value
    assert dash.points.value == "1"
    dash.set(quant="int8-dynamic", batch_sizes=(1,))
    assert dash.wait(20)
    assert "unsupported: no int8 here" in dash.error.value and "fake failure" not in dash.error.value
    dash.set(quant="fp32")                                 # errors clear with a new selection
    assert dash.wait(20) and dash.error.value == ""


def test_options_this_hardware_cannot_run_are_shown_with_the_reason_and_refused(panel):
    runner = FakeRunner()
    dash = panel(runner, autostart=False)
    labels = dict((v, k) for k, v in dash.w["quant"].options)
    assert labels["fp32"] == "fp32" and labels["fp8"].startswith("fp8 — ✕")
    assert dict((v, k) for k, v in dash.w["prune_method"].options)["2:4"].startswith("2:4 — ✕")
    dash.w["quant"].value = "fp8"                          # as a click in the dropdown
    assert dash.wait(5)
    assert "fp8" in dash.error.value and "compute capability" in dash.error.value
    assert "not measured" in dash.status.value
    dash.w["quant"].value = "fp32"
    dash.w["prune_method"].value = "2:4"
    assert dash.wait(5) and "2:4" in dash.error.value
    assert dash.w["sparsity"].value == 0.5 and dash.w["sparsity"].disabled
    assert all(c.prune_method != "2:4" and c.quant != "fp8" for c in runner.calls)


def test_int8_dynamic_is_refused_on_a_gpu(panel, fake_gpu):
    runner = FakeRunner()
    dash = panel(runner, autostart=False)
    dash.set(device="cuda:0", quant="int8-dynamic")
    assert dash.wait(5)
    assert runner.calls == [] and "int8-dynamic" in dash.error.value
    assert dict((v, k) for k, v in dash.w["quant"].options)["int8-dynamic"].startswith("int8-dynamic — ✕")
    assert dash.w["threads"].disabled


def test_slider_drags_are_debounced(panel):
    runner = FakeRunner()
    dash = panel(runner, batch_sizes=(1,), prune_method="unstructured", autostart=False, debounce_s=0.2)
    for value in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
        dash.w["sparsity"].value = value
        time.sleep(0.01)
    assert dash.wait(20)
    assert [(c.sparsity, c.batch_size) for c in runner.calls] == [(0.4, 1)]


def test_set_rejects_bad_values_naming_the_field(panel):
    dash = panel(FakeRunner(), autostart=False)
    with pytest.raises(ValueError, match="^colour="):
        dash.set(colour="red")
    with pytest.raises(ValueError, match="^batch_sizes="):
        dash.set(batch_sizes=(3,))
    with pytest.raises(ValueError, match="^quant="):
        dash.set(quant="int3")


def test_save_figure_export_rows_display_and_css_hooks(panel, tmp_path):
    dash = panel(FakeRunner())
    assert dash.wait(20)
    svg = dash.save_figure("svg", folder=tmp_path / "figs")
    assert svg.read_bytes().lstrip().startswith(b"<?xml") and svg.with_suffix(".csv").exists()
    parquet = dash.export_rows("parquet", folder=tmp_path / "figs")
    assert len(pd.read_parquet(parquet)) == 2
    with pytest.raises(ValueError, match="^format="):
        dash.save_figure("jpeg", folder=tmp_path)
    assert "application/vnd.jupyter.widget-view+json" in dash._repr_mimebundle_()
    for widget, css in ((dash.image, "lab-plot"), (dash.w["sparsity"], "lab-sparsity"),
                        (dash.w["quant"], "lab-quant"), (dash.error, "lab-error"), (dash.status, "lab-status"),
                        (dash.points, "lab-points")):
        assert css in widget._dom_classes


def test_default_runner_is_lab_measure_in_quick_mode(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    dash = Dashboard(store=store, autostart=False)
    try:
        assert dash.runner.func.__name__ == "measure" and dash.runner.keywords["store"] is store
        assert dash.runner.keywords["budget"].timing.max_time_s <= 0.3
        assert "quick mode" in dash.note.value and "quick mode" in dash.status.value
    finally:
        dash.close()


def test_the_live_figure_draws_the_same_image_by_every_path():
    from lab.dashboard.render import LiveFigure

    rows = []
    for k, quant in enumerate(("fp32", "bf16", "fp16"), start=1):
        for b in (1, 8):
            rows.append({"model": "digits-mlp", "quant": quant, "batch_size": b, "config_id": f"{quant}-{b}",
                         "latency_ms_p50": k * b, "latency_ms_p90": 1.1 * k * b, "latency_ms_p99": 1.2 * k * b,
                         "throughput_sps": 1e3 / k, "peak_mem_mib": b, "energy_mj_per_sample": k,
                         "energy_source": "estimate", "accuracy": 1 - k / 100, "metric": "accuracy", "error": None})
    df = pd.DataFrame(rows)
    live = LiveFigure()
    live.png(df.head(4), ["bf16-1", "bf16-8"], version=1)
    grown = live.png(df, ["fp16-1", "fp16-8"], version=2)             # new rows: rebuilt in place
    back = live.png(df, ["fp32-1", "fp32-8"], version=2)              # same rows: restyled only
    assert live.fast >= 1
    assert grown == LiveFigure().png(df, ["fp16-1", "fp16-8"], version=2)
    assert back == LiveFigure().png(df, ["fp32-1", "fp32-8"], version=2)


# --- the figure's roofline panel and card, and the table's carbon / cost / roofline columns -----------

ASSUMPTION = "10 W per busy core: default for a CPU not in the table (Fake CPU); set LAB_WATTS_PER_CORE to override"


def costed_rows():
    """Six rows (fp32, bf16 x batch 1, 8, 64) carrying energy, carbon, cost and roofline columns."""
    rows = []
    for k, quant in enumerate(("fp32", "bf16"), start=1):
        for b in (1, 8, 64):
            rows.append({"model": "digits-mlp", "quant": quant, "batch_size": b, "config_id": f"{quant}-{b}",
                         "latency_ms_p50": k * b, "latency_ms_p90": 1.1 * k * b, "latency_ms_p99": 1.2 * k * b,
                         "throughput_sps": 1e3 / k, "peak_mem_mib": b, "energy_mj_per_sample": 2.5 * k,
                         "energy_source": "estimate", "energy_assumption": ASSUMPTION,
                         "co2_g_per_1k": 0.123 * k, "carbon_g_per_kwh": 380.0,
                         "carbon_region": "DE (Ember, 2023 annual average)", "cost_usd_per_1m": 4.56 * k,
                         "price_usd_per_hour": 0.089, "price_instance": "aws-c7i.large (list price, January 2025)",
                         "achieved_gflops": 0.5 * b / k, "peak_gflops": 100.0 * k, "bandwidth_gbs": 20.0,
                         "arithmetic_intensity": 0.25 * b, "roofline_frac": 0.1 * b / k / 8,
                         "bound": "memory" if b < 64 else "compute", "accuracy": 1 - k / 100,
                         "metric": "accuracy", "error": None})
    return pd.DataFrame(rows)


BF16 = ["bf16-1", "bf16-8", "bf16-64"]


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


def test_the_live_figure_with_roofline_and_card_draws_the_same_image_by_every_path():
    from lab.dashboard.render import LiveFigure

    df = costed_rows()
    live = LiveFigure()
    live.png(df.head(4), ["bf16-1"], version=1)
    grown = live.png(df, BF16, version=2)                       # new rows: rebuilt in place
    back = live.png(df, ["fp32-1", "fp32-8", "fp32-64"], version=2)  # same rows: restyled, card numbers only
    assert live.fast >= 1
    assert grown == LiveFigure().png(df, BF16, version=2)
    assert back == LiveFigure().png(df, ["fp32-1", "fp32-8", "fp32-64"], version=2)
    assert back != grown


def test_rows_stored_before_the_new_columns_still_draw_with_an_empty_roofline_panel():
    from lab.dashboard.figure import CARD_GID, NO_ROOFLINE, ROOFLINE, dashboard_figure
    from lab.dashboard.files import table_html
    from lab.dashboard.render import LiveFigure

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
    assert LiveFigure().png(old, BF16, version=1).startswith(b"\x89PNG")
    assert "CO2e" not in table_html(old) and "lab-energy-note" not in table_html(old)


def _table(page: str) -> list[dict]:
    """The rows of table_html's <table> as {header: cell text} (pandas.read_html needs lxml, not installed)."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("th", "td"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("th", "td"):
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    header, *body = parser.rows
    return [dict(zip(header, row)) for row in body]


def test_the_table_shows_carbon_cost_and_roofline_under_headers_with_units():
    from lab.dashboard.files import table_html

    rows = _table(table_html(costed_rows()))
    assert {"CO2e (g / 1k samples)", "cost (USD / 1M samples)", "roofline (% of attainable)", "energy_source",
            "quant", "energy_mj_per_sample"} <= set(rows[0])
    newest = rows[0]                                            # newest first: bf16, batch 64
    assert (newest["quant"], newest["batch_size"]) == ("bf16", "64")
    assert (newest["CO2e (g / 1k samples)"], newest["cost (USD / 1M samples)"]) == ("0.246", "9.12")
    assert newest["roofline (% of attainable)"] == "40%" and newest["energy_source"] == "estimate"
    assert rows[-1]["roofline (% of attainable)"] == "1%"       # fp32, batch 1: 0.0125


def test_the_energy_assumption_shows_as_one_line_under_the_table_only_when_set():
    from lab.dashboard.files import table_html

    page = table_html(costed_rows())
    assert page.count("lab-energy-note") == 1
    note = page.split("lab-energy-note", 1)[1]
    assert "energy: estimate — 10 W per busy core" in note and "\n" not in note.strip()
    measured = costed_rows().assign(energy_source="rapl", energy_assumption="")
    assert "lab-energy-note" not in table_html(measured)
    long = costed_rows().assign(energy_assumption="x" * 500)
    shown = long.pipe(table_html).split("lab-energy-note", 1)[1]
    assert "…" in shown and "x" * 500 in shown                    # cut in the line, whole in its title
