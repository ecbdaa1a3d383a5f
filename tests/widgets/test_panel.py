"""lab.widgets.panel: the Dashboard, headless, driven end to end with a fake runner."""
import threading
import time

import pandas as pd
import pytest

from lab.bench import Bench
from lab.store import Store
from lab.widgets import Dashboard, configs_from_controls


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
        bench = Bench(kwargs.pop("store"), budget="quick", environment=kwargs.pop("environment", None),
                      measure=lambda config, budget, **_: runner(config))
        dash = Dashboard(bench, debounce_s=kwargs.pop("debounce_s", 0.05), **kwargs)
        made.append(dash)
        return dash

    yield make
    for dash in made:
        dash.close()


def test_a_toggle_measures_in_the_background_commits_rows_and_redraws(panel, tmp_path):
    runner = FakeRunner(gate=lambda c: c.quant == "bf16")
    dash = panel(runner)
    assert dash.wait(20)
    first = dash.png()
    assert first.startswith(b"\x89PNG") and dash.points.value == "2"
    started = time.perf_counter()
    dash.set(quant="bf16")                              # returns at once: the runner is blocked
    assert time.perf_counter() - started < 1.0 and runner.entered.wait(5)
    assert not dash.wait(0.05)
    runner.release.set()
    assert dash.wait(20)
    assert dash.png() != first
    assert runner.measured() == [("fp32", 1), ("fp32", 8), ("bf16", 1), ("bf16", 8)]
    assert len(Store(tmp_path / "store.sqlite")) == 4   # every row committed as measured
    assert dash.points.value == "4" and list(dash.rows["quant"]) == ["fp32", "fp32", "bf16", "bf16"]
    assert "done" in dash.status.value and "quick mode" not in dash.status.value


def test_points_appear_one_by_one(panel):
    runner = FakeRunner()
    seen = []
    dash = panel(runner, batch_sizes=(1, 2, 4), autostart=False)
    dash.on_redraw(lambda d: seen.append(len(runner.calls)))
    dash.set(quant="bf16")
    assert dash.wait(20)
    assert seen == [0, 1, 2, 3]    # the empty axes, then a redraw after each configuration
    assert [entry[1] for entry in dash.redraw_log] == [0, 1, 2, 3]


def test_a_second_toggle_cancels_the_stale_work(panel):
    runner = FakeRunner(gate=lambda c: c.quant == "fp32" and c.batch_size == 1)
    states = []
    dash = panel(runner, batch_sizes=(1, 2, 4), autostart=False)
    dash.on_redraw(lambda d: states.append(tuple(dash.rows.get("quant", ()))))
    shown = []
    dash.on_redraw(lambda d: shown.append(list(d.shown)))
    dash.set(quant="fp32")
    fp32_ids = [c.config_id for c in configs_from_controls(dash.values())]
    assert runner.entered.wait(5)
    dash.set(quant="bf16")                                # while fp32 batch 1 is in flight
    runner.release.set()
    assert dash.wait(20)
    assert runner.measured() == [("fp32", 1), ("bf16", 1), ("bf16", 2), ("bf16", 4)]
    assert fp32_ids not in shown[1:]                      # once bf16 was asked, fp32 was never drawn as the selection
    assert all(ids != fp32_ids or not quants for ids, quants in zip(shown, states))  # nor with its row in it
    assert states[-1] == ("fp32", "bf16", "bf16", "bf16")  # but it is kept (and stored): it was measured
    assert dash.shown == [c.config_id for c in configs_from_controls(dash.values())]


def test_a_configuration_measured_before_comes_from_the_store(panel, tmp_path):
    runner = FakeRunner()
    dash = panel(runner)
    assert dash.wait(20)
    dash.set(quant="bf16")
    assert dash.wait(20)
    before, image = len(runner.calls), dash.png()
    dash.set(quant="fp32")                                 # toggle back
    assert dash.wait(20)
    assert len(runner.calls) == before and dash.png() != image
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
    for widget, css in ((dash.canvas, "lab-plot"), (dash.hover, "lab-hover"), (dash.card, "lab-card"),
                        (dash.panel_picker, "lab-panel-picker"), (dash.w["sparsity"], "lab-sparsity"),
                        (dash.w["quant"], "lab-quant"), (dash.error, "lab-error"), (dash.status, "lab-status"),
                        (dash.points, "lab-points")):
        assert css in widget._dom_classes


def test_the_default_dashboard_measures_through_a_quick_bench_on_its_store(tmp_path):
    from lab import bench as bench_module
    from lab.budget import Budget

    store = Store(tmp_path / "s.sqlite")
    dash = Dashboard(store=store, autostart=False)
    try:
        assert dash.bench.store is store and dash.bench.budget == Budget.named("quick")
        assert dash.bench._measure is bench_module.default_measure
        # The note is written from the budget itself, never restated by hand.
        assert f"≥{Budget.named('quick').timing.min_runs} timed runs" in dash.note.value
        assert "quick budget" in dash.note.value and "quick budget" in dash.status.value
    finally:
        dash.close()


def test_a_cluster_is_joined_once_and_the_bench_measures_on_that_one(tmp_path, monkeypatch):
    from lab.cluster import session

    joined = []

    class FakeCluster:
        pass

    def connect(address=None, **kwargs):
        joined.append(address)
        return FakeCluster()

    monkeypatch.setattr(session, "connect", connect)
    monkeypatch.setattr(session, "current", lambda: None)  # the dropdown: this machine's devices only
    dash = Dashboard(store=Store(tmp_path / "s.sqlite"), autostart=False, cluster="auto")
    try:
        assert isinstance(dash.bench.cluster(), FakeCluster) and joined == ["auto"]  # not a second connect
    finally:
        dash.close()


def _mouse(dash, kind, xy, **kwargs):
    """An ipympl mouse event, as the browser's would arrive (display pixels from the bottom left)."""
    from matplotlib.backend_bases import MouseEvent

    MouseEvent(kind, dash.canvas, *xy, **kwargs)._process()


def test_hovering_a_point_shows_its_configuration_and_clicking_it_selects_it(panel):
    runner = FakeRunner()
    dash = panel(runner, batch_sizes=(1, 8))
    assert dash.wait(20)
    dash.set(quant="bf16")
    assert dash.wait(20)
    fp32_8 = next(r for _, r in dash.rows.iterrows() if r["quant"] == "fp32" and r["batch_size"] == 8)
    xy = dash.view.position("latency", fp32_8["config_id"])
    _mouse(dash, "motion_notify_event", xy)
    assert "<b>digits-mlp · batch 8 · fp32 · cpu×" in dash.hover.value and "latency p50 8 ms" in dash.hover.value
    assert dash.hovered["config_id"] == fp32_8["config_id"]
    calls = len(runner.calls)
    _mouse(dash, "button_press_event", xy, button=1)
    assert dash.wait(20)
    assert dash.values()["quant"] == "fp32" and dash.w["quant"].value == "fp32"   # the controls changed
    assert len(runner.calls) == calls                      # measured before: from the session at once
    assert fp32_8["config_id"] in dash.shown
    _mouse(dash, "button_press_event", (2, 2), button=1)   # not on a point: nothing changes
    assert dash.wait(5) and dash.values()["quant"] == "fp32"


def test_the_user_picks_the_large_panel_or_a_pair_and_the_card_is_html(panel):
    dash = panel(FakeRunner())
    assert dash.wait(20)
    assert dash.view.panels == ("latency",) and dash.view.fig.bbox.width >= 600
    dash.panel_picker.value = "roofline"                  # as a click on the selector
    assert dash.view.panels == ("roofline",)
    dash.panel_below.value = "accuracy-energy"
    assert dash.view.panels == ("roofline", "accuracy-energy") and dash.canvas.last_mode == "full"
    dash.show_panels("energy")
    assert dash.view.panels == ("energy",) and dash.panel_picker.value == "energy" and dash.panel_below.value == ""
    assert "mJ / sample, estimate" in dash.card.value and "current selection" in dash.card.value
    with pytest.raises(ValueError, match="^panel="):
        dash.show_panels("speed")


def test_a_toggle_back_reuses_the_static_layer(panel):
    dash = panel(FakeRunner(), batch_sizes=(1, 8))
    assert dash.wait(20)
    dash.set(quant="bf16")
    assert dash.wait(20)
    dash.set(quant="fp32")
    assert dash.wait(20)
    assert dash.redraw_log[-1][3] == "fast"


def test_where_the_time_goes_profiles_the_selection_under_the_plot(tmp_path):
    """The button's work, called directly: the selection's smallest batch profiled (real torch.profiler,
    digits-mlp at batch 1), drawn as a PNG under the plot, the top operator named in the note."""
    dash = Dashboard(store=Store(tmp_path / "s.sqlite"), autostart=False, model="digits-mlp", threads=1,
                     batch_sizes=(1, 8))
    try:
        result = dash.profile_selection()
        assert result.operators and result.threads == 1
        assert dash.profile_image.value[:8] == b"\x89PNG\r\n\x1a\n" and dash.profile_image.layout.display is None
        assert result.operators[0].name in dash.profile_note.value and "ms per forward" in dash.profile_note.value
        built = dash.bench.prepared.built
        assert dash.profile_selection().label == result.label
        assert dash.bench.prepared.built == built  # the same selection: its transformed model reused
    finally:
        dash.close()
