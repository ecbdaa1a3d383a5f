"""lab.dashboard.data_train, live_runs and data_train_draw: the data and training panels' logic, no widgets."""
import math
import threading
import time

import pytest
from matplotlib.figure import Figure

from lab.dashboard import data_train
from lab.dashboard.data_train_draw import draw_loader, draw_training, energy_label
from lab.dashboard.live_runs import EpochBench, LiveCurves, Redrawer, is_cancelled
from lab.dashboard.worker import MEASURING, Worker
from lab.errors import FieldError
from lab.train import TrainConfig


def curve(n, joules=2.0, seconds=0.1, start=0.5, step=0.09):
    return [{"epoch": e, "seconds": seconds * e, "energy_j": joules * e, "samples_seen": 100 * e,
             "accuracy": start + step * e} for e in range(1, n + 1)]


class FakeTrainBench:
    """Follows lab.train.TrainBench's contract: stored(config), measure(config, on_epoch, should_stop) -> row,
    a cancelled run returned with error 'cancelled' and not stored. ``between(epoch)`` runs after each point."""

    def __init__(self, epochs=5, between=None):
        self.epochs, self.between = epochs, between
        self.store_rows, self.calls = [], []

    def stored(self, config):
        return [{**r, "from_store": True} for r in self.store_rows if r["config_id"] == config.config_id]

    def measure(self, config, on_epoch=None, should_stop=None):
        self.calls.append(config)
        points = []
        for point in curve(self.epochs):
            if should_stop is not None and should_stop():
                return {"config_id": config.config_id, "model": config.model, "error": "cancelled", "curve": points}
            points.append(point)
            if on_epoch is not None:
                on_epoch(dict(point))
            if self.between is not None:
                self.between(point["epoch"])
        row = {"kind": "training", **config.to_dict(), "config_id": config.config_id, "curve": points,
               "energy_source": "estimate", "contended": False, "error": None, "reached": True,
               "eta_j": points[-1]["energy_j"], "tta_s": points[-1]["seconds"]}
        self.store_rows.append(row)
        return {**row, "from_store": False}


# --- controls -> configurations ----------------------------------------------------------------------
def test_training_controls_derive_from_the_train_knobs():
    specs = data_train.control_specs("training")
    assert tuple(specs) == data_train.TRAIN_CONTROLS
    assert specs["label_noise"].widget == "slider" and specs["label_noise"].high == 0.8  # the knob's widget_max
    assert specs["precision"].widget == "dropdown" and specs["precision"].options == ("fp32", "bf16")
    assert specs["data_kept"].low == 0.1 and specs["data_kept"].high == 1.0     # 0 itself is refused by the knob
    assert specs["label_noise"].knob.label == "label noise (fraction)"


def test_train_config_from_controls_and_bad_values_are_one_line_naming_the_field():
    config = data_train.train_config({"label_noise": 0.2, "precision": "bf16"})
    assert isinstance(config, TrainConfig) and config.label_noise == 0.2 and config.precision == "bf16"
    assert config.model == "digits-mlp" and config.target_accuracy == 0.9
    # all data kept: keep_by means nothing, so both spellings are one configuration (as lab.train.grid)
    assert data_train.train_config({"keep_by": "el2n"}).config_id == data_train.train_config({}).config_id
    with pytest.raises(FieldError, match=r"^label_noise=1.5 is not allowed"):
        data_train.train_config({"label_noise": 1.5})
    with pytest.raises(FieldError, match="target_accuracy"):
        data_train.train_config({"target_accuracy": 1.2})
    with pytest.raises(FieldError, match=r"^colour='red' is not allowed: a training control"):
        data_train.train_config({"colour": "red"})


def test_a_control_refuses_what_its_widget_cannot_show_naming_the_field():
    specs = {**data_train.control_specs("training"), "num_workers": data_train.control_specs("data")["num_workers"]}
    assert specs["time_budget_s"].check(120.0) == 120.0 and specs["batch_size"].check(64) == 64
    assert specs["num_workers"].check((0, 4)) == (0, 4) and specs["num_workers"].check(2) == 2
    with pytest.raises(FieldError, match=r"^time_budget_s=300 is not allowed: a number from 1 to 120 \(the panel's"):
        specs["time_budget_s"].check(300)
    with pytest.raises(FieldError, match=r"^seed=10 is not allowed: a whole number from 0 to 9"):
        specs["seed"].check(10)
    with pytest.raises(FieldError, match=r"^batch_size=100 is not allowed: one of 8, 16, 32, 64, 128, 256$"):
        specs["batch_size"].check(100)
    assert specs["batch_size"].check(100, offered=[64, 100]) == 100   # a dropdown started outside its options
    with pytest.raises(FieldError, match=r"^num_workers=\(0, 3\) is not allowed: one or more of 0, 1, 2, 4"):
        specs["num_workers"].check((0, 3))
    with pytest.raises(FieldError, match="num_workers=True"):
        specs["num_workers"].check(True)                                # True == 1, but not a number of workers


def test_describe_training_names_the_knobs():
    row = {"model": "digits-cnn", "label_noise": 0.2, "data_kept": 0.5, "keep_by": "el2n", "batch_size": 32,
           "precision": "bf16", "seed": 1}
    assert data_train.describe_training(row) == "digits-cnn · noise 0.2 · kept 0.5 (el2n) · batch 32 · bf16 · seed 1"
    assert data_train.describe_training(row, short=True).startswith("noise 0.2")


# --- the worker measures training through EpochBench ------------------------------------------------------
def run_worker(bench, configs):
    events = []
    worker = Worker(bench, lambda event, **data: events.append((event, data)))
    worker.submit(configs)
    assert worker.wait(10)
    worker.close()
    return worker, events


def test_the_curve_grows_point_by_point_through_the_worker():
    curves, seen = LiveCurves(), []
    fake = FakeTrainBench(epochs=5)
    bench = EpochBench(fake, curves, on_point=lambda config, point: seen.append(
        (point["epoch"], len(curves.points(config.config_id)), MEASURING.locked())))
    config = data_train.train_config({})
    worker, events = run_worker(bench, [config])
    # each point is in the live curve the moment on_epoch hands it over, inside the measuring lock
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True), (4, 4, True), (5, 5, True)]
    assert [e for e, _ in events] == ["start", "progress", "rows", "done"]
    assert events[2][1]["rows"][0]["curve"] == curve(5)
    assert curves.running is None and curves.points(config.config_id) == curve(5)  # kept until the row replaces it


def test_a_new_selection_stops_the_running_training_at_its_next_step():
    curves, gate, entered = LiveCurves(), threading.Event(), threading.Event()

    def between(epoch):
        if epoch == 2 and not gate.is_set():
            entered.set()
            assert gate.wait(5)
    fake = FakeTrainBench(epochs=5, between=between)
    bench = EpochBench(fake, curves)
    first, second = data_train.train_config({}), data_train.train_config({"label_noise": 0.2})
    events = []
    worker = Worker(bench, lambda event, **data: events.append((event, data)))
    worker.submit([first])
    assert entered.wait(5)
    bench.stop_running()                 # what the panel does before submitting a new selection
    worker.submit([second])
    gate.set()
    assert worker.wait(10)
    worker.close()
    assert [c.label_noise for c in fake.calls] == [0.0, 0.2]
    assert bench.stops_asked == 1        # the first run asked once more, was told to stop, and stopped
    assert [r["config_id"] for r in fake.store_rows] == [second.config_id]  # the cancelled run is not stored
    assert curves.points(first.config_id) == [] and len(curves.points(second.config_id)) == 5
    cancelled = [r for r in worker.rows()[0] if r["config_id"] == first.config_id]
    assert len(cancelled) == 1 and is_cancelled(cancelled[0]) and len(cancelled[0]["curve"]) == 2
    assert ("cancelled" in [e for e, _ in events]) and events[-1][0] == "done"


def test_a_run_that_starts_between_stop_running_and_the_new_submit_still_stops():
    """The race: the panel calls stop_running(), then the worker starts the queued run, then the new
    selection is submitted. The worker's own generation stops it (its should_stop), not stop_running."""
    curves, started, gate = LiveCurves(), threading.Event(), threading.Event()

    def between(epoch):
        if epoch == 1:
            started.set()
            assert gate.wait(5)
    fake = FakeTrainBench(epochs=5, between=between)
    bench = EpochBench(fake, curves)
    first, second = data_train.train_config({}), data_train.train_config({"label_noise": 0.2})
    worker = Worker(bench, lambda event, **data: None)
    bench.stop_running()                 # the panel's stop, before the first run has begun
    worker.submit([first])               # ... which then starts: it records the new generation
    assert started.wait(5)
    worker.submit([second])              # the new selection
    gate.set()
    assert worker.wait(10)
    worker.close()
    assert [c.label_noise for c in fake.calls] == [0.0, 0.2]
    assert bench.stops_asked == 1        # the first run was told to stop at its next epoch
    assert [r["config_id"] for r in fake.store_rows] == [second.config_id]


def test_only_a_run_lab_train_cancelled_counts_as_cancelled():
    from lab.train.loop import CANCELLED

    assert is_cancelled({"error": CANCELLED})
    # a failure whose one line merely starts with the word is a failure: shown, its points not dropped
    assert not is_cancelled({"error": "CancelledError: the data loader's future was cancelled"})
    assert not is_cancelled({"error": None}) and not is_cancelled(None)


def test_a_stored_run_is_served_without_training_again():
    fake = FakeTrainBench()
    config = data_train.train_config({})
    run_worker(EpochBench(fake, LiveCurves()), [config])
    worker, events = run_worker(EpochBench(fake, LiveCurves()), [config])  # a new session on the same store
    assert len(fake.calls) == 1 and worker.calls == 0
    assert [e for e, _ in events] == ["start", "rows", "done"] and events[1][1]["rows"][0]["from_store"] is True


# --- the redraw throttle ------------------------------------------------------------------------------------
def test_redrawer_merges_requests_that_arrive_while_it_draws():
    started, release, drawn = threading.Event(), threading.Event(), []

    def draw():
        drawn.append(time.perf_counter())
        started.set()
        assert release.wait(5)
    redrawer = Redrawer(draw, min_interval_s=0.0)
    redrawer.request()
    assert started.wait(5)
    for _ in range(10):
        redrawer.request()           # while the first frame is drawn: one more frame covers them all
    release.set()
    assert redrawer.flush(5)
    redrawer.close()
    assert len(drawn) == 2


def test_redrawer_reports_a_failed_frame_and_draws_the_next():
    calls = []

    def draw():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bad frame\nmore")
    redrawer = Redrawer(draw, min_interval_s=0.0)
    redrawer.request()
    assert redrawer.flush(5)
    redrawer.request()
    assert redrawer.flush(5)
    redrawer.close()
    assert redrawer.errors == ["RuntimeError: bad frame"] and len(calls) == 2


# --- what is drawn -------------------------------------------------------------------------------------------
def axes_pair():
    return Figure().subplots(2, 1)


def loader_row(workers, contended=False, model_sps=900.0, error=None):
    return {"config_id": f"w{workers}", "num_workers": workers, "loader_sps": 1000.0 * (workers + 1),
            "model_sps": model_sps, "pipeline_sps": 500.0 * (workers + 1), "stall_frac": 0.5 / (workers + 1),
            "energy_mj_per_sample": 0.1, "energy_source": "estimate", "contended": contended, "error": error}


def test_loader_panel_draws_the_three_throughputs_and_the_stall_fraction_per_workers():
    top, bottom = axes = axes_pair()
    rows = [loader_row(2), loader_row(0), loader_row(1, contended=True), loader_row(4, error="boom")]
    assert draw_loader(axes, rows, ["w0", "w1", "w2", "w4"]) == 3             # the error row is not drawn
    lines = {line.get_label(): line for line in top.lines}
    assert list(lines["loader alone"].get_xdata()) == [0, 1, 2]
    assert list(lines["loader alone"].get_ydata()) == [1000.0, 2000.0, 3000.0]
    assert list(lines["loader + model"].get_ydata()) == [500.0, 1000.0, 1500.0]
    assert [round(p.get_height(), 4) for p in bottom.patches] == [0.5, 0.25, round(0.5 / 3, 4)]
    assert bottom.patches[1].get_hatch() == "//" and bottom.patches[0].get_hatch() is None  # contended: hatched
    assert "contended" in " ".join(t.get_text() for t in top.get_legend().get_texts())
    assert top.get_ylabel() == "throughput (samples/s)" and "stall fraction" in bottom.get_ylabel()
    assert "source: estimate" in bottom.get_title()


def test_loader_alone_has_no_model_series_and_other_selections_are_not_drawn():
    top, _ = axes = axes_pair()
    rows = [loader_row(0, model_sps=math.nan), loader_row(1, model_sps=math.nan)]
    assert draw_loader(axes, rows, ["w1"]) == 1
    assert [line.get_label() for line in top.lines] == ["loader alone", "loader + model"]


def test_training_panel_draws_the_current_run_past_runs_grey_and_contended_dashed():
    top, bottom = axes = axes_pair()
    runs = [{"config_id": "old", "curve": curve(3), "energy_source": "estimate", "contended": True},
            {"config_id": "cur", "curve": curve(4), "energy_source": "estimate", "reached": True,
             "eta_j": 8.0, "tta_s": 0.4},
            {"config_id": "bad", "curve": [], "error": "RuntimeError: boom"}]
    drawn = draw_training(axes, runs, {"live": curve(2)}, "cur", 0.85, label_of=lambda r: r["config_id"])
    assert drawn == 3 + 4 + 2
    labels = [line.get_label() for line in top.lines]
    assert "old (contended) · earlier" in labels and "cur" in labels and "(training now: epoch 2)" in labels
    old = top.lines[labels.index("old (contended) · earlier")]
    assert old.get_linestyle() == "--" and list(old.get_xdata()) == [2.0, 4.0, 6.0]
    assert list(bottom.lines[labels.index("cur")].get_xdata()) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert top.get_xlabel() == "training energy (J, source: estimate)" and bottom.get_xlabel() == "training time (s)"


def test_energy_label_always_names_a_source():
    assert energy_label([None]) == "training energy (J, source: not known yet)"
    assert energy_label(["rapl", "estimate", None]) == "training energy (J, source: estimate, rapl)"


def test_loader_energy_title_says_an_unknown_source_as_the_training_axis_does():
    _, bottom = axes = axes_pair()
    draw_loader(axes, [loader_row(0) | {"energy_source": None}, loader_row(1) | {"energy_source": math.nan}])
    assert "(mJ, source: not known yet)" in bottom.get_title()          # was "source: ?"
    assert energy_label([math.nan]) == "training energy (J, source: not known yet)"  # NaN is not a source


def test_loader_panel_uses_the_loader_figures_columns_and_axis_label():
    from lab.dashboard.data_train_draw import LOADER_SERIES
    from lab.data import plots as data_plots

    assert tuple(column for column, _ in LOADER_SERIES) == data_plots.RATE_COLUMNS
    top, _ = axes = axes_pair()
    draw_loader(axes, [loader_row(0)])
    assert top.get_ylabel() == data_plots.THROUGHPUT_LABEL
