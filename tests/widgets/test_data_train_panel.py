"""lab.widgets.data_train_panel: the data and training panels, headless, on the real LoaderBench and
TrainBench with fake measures that follow their contract (and, marked slow, with the real measures)."""
import threading
import time

import pytest

from lab.data import LoaderBench
from lab.errors import FieldError
from lab.store import Store
from lab.train import TrainBench
from lab.widgets import DataTrainDashboard
from lab.widgets.data_train_panel import DataPanel, TrainingPanel


def curve(n):
    return [{"epoch": e, "seconds": 0.1 * e, "energy_j": 2.0 * e, "samples_seen": 100 * e,
             "accuracy": 0.5 + 0.09 * e, "contended": False} for e in range(1, n + 1)]


class FakeTrain:
    """lab.train.train's contract: on_epoch(point) per epoch, should_stop() honoured, the measured columns.
    ``between(config, epoch)`` runs after each point (tests hold a run there); ``fail`` raises instead."""

    def __init__(self, epochs=5, between=None, fail=None):
        self.epochs, self.between, self.fail = epochs, between, fail
        self.calls, self.intervals = [], []

    def __call__(self, config, *, on_epoch=None, should_stop=None):
        started = time.perf_counter()
        self.calls.append(config)
        try:
            if self.fail:
                raise RuntimeError(self.fail)
            points = []
            for point in curve(self.epochs):
                if should_stop is not None and should_stop():
                    return {"curve": points, "error": "cancelled", "energy_source": "estimate"}
                points.append(point)
                if on_epoch is not None:
                    on_epoch(dict(point))
                if self.between is not None:
                    self.between(config, point["epoch"])
            return {"reached": True, "tta_s": 0.5, "eta_j": 10.0, "best_accuracy": 0.95, "final_accuracy": 0.95,
                    "epochs": self.epochs, "samples_seen": 100 * self.epochs, "seconds": 0.1 * self.epochs,
                    "energy_j": 2.0 * self.epochs, "energy_source": "estimate", "curve": points,
                    "contended": False}
        finally:
            self.intervals.append((started, time.perf_counter()))


class FakeLoader:
    """lab.data's measure contract: (config, budget, *, data_dir) -> the measured columns of a loader row."""

    def __init__(self, before=None, seconds=0.0):
        self.before, self.seconds, self.calls, self.intervals = before, seconds, [], []

    def __call__(self, config, budget, *, data_dir=None):
        if self.before is not None:
            self.before(config)
        started = time.perf_counter()
        self.calls.append(config)
        time.sleep(self.seconds)
        n = config.num_workers
        self.intervals.append((started, time.perf_counter()))
        return {"loader_sps": 1000.0 * (n + 1), "model_sps": 800.0, "pipeline_sps": 400.0 * (n + 1),
                "stall_frac": 0.6 / (n + 1), "cpu_util_frac": 0.5, "energy_mj_per_sample": 0.2,
                "energy_source": "estimate", "contended": False}


@pytest.fixture
def panels(tmp_path):
    made = []
    store = Store(tmp_path / "store.sqlite")

    def training(fake, **kwargs):
        bench = TrainBench(kwargs.pop("store", store), budget="quick", measure=fake)
        panel = TrainingPanel(bench, debounce_s=0.0, min_redraw_s=kwargs.pop("min_redraw_s", 0.0), **kwargs)
        made.append(panel)
        return panel

    def data(fake, **kwargs):
        bench = LoaderBench(kwargs.pop("store", store), budget="quick", measure=fake)
        panel = DataPanel(bench, debounce_s=0.0, min_redraw_s=0.0, **kwargs)
        made.append(panel)
        return panel

    yield training, data, store
    for panel in made:
        panel.close()


def drawn_counts(panel):
    counts = [points for _, points in panel.redraw_log]
    return [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]


def test_the_training_curve_grows_epoch_by_epoch_and_the_row_is_committed(panels):
    training, _, store = panels
    holder, statuses = [], []

    def between(config, epoch):   # each point drawn before the next is trained
        assert holder[0].redrawer.flush(5)
        statuses.append(holder[0].status.value)
    fake = FakeTrain(between=between)
    panel = training(fake, autostart=False)
    holder.append(panel)
    panel.start()
    assert panel.wait(20)
    assert [c for c in drawn_counts(panel) if c] == [1, 2, 3, 4, 5]   # (the empty frame may merge with the first)
    assert panel.points_seen == 5 and panel.errors == [] and "done: 1 measured" in panel.status.value
    assert statuses[2].startswith("training digits-mlp · noise 0") and "epoch 3, accuracy 0.770" in statuses[2]
    stored = store.rows(kind="training")
    assert len(stored) == 1 and [p["accuracy"] for p in stored[0]["curve"]] == [p["accuracy"] for p in curve(5)]


def test_an_epoch_boundary_does_not_wait_out_the_redraw_throttle(panels):
    training, _, _ = panels
    fake = FakeTrain()
    panel = training(fake, autostart=False, min_redraw_s=2.0)
    panel.start()
    assert panel.wait(30)
    (started, ended), = fake.intervals
    # before: each boundary asked for a frame and waited for it, up to 2 s after the previous one: > 8 s
    assert ended - started < 1.5 and panel.points_seen == 5
    assert panel.redraw_log[-1][1] == 5       # the run's row, drawn once it is in, has every point


def test_a_new_selection_cancels_the_running_training(panels):
    training, _, store = panels
    entered, release = threading.Event(), threading.Event()

    def between(config, epoch):
        if config.label_noise == 0.0 and epoch == 2:
            entered.set()
            assert release.wait(10)
    fake = FakeTrain(between=between)
    panel = training(fake)
    assert entered.wait(10)
    started = time.perf_counter()
    panel.set(label_noise=0.2)                     # returns at once: the run is held at epoch 2
    assert time.perf_counter() - started < 1.0
    release.set()
    assert panel.wait(20)
    assert [c.label_noise for c in fake.calls] == [0.0, 0.2]
    assert [r["label_noise"] for r in store.rows(kind="training")] == [0.2]   # the cancelled run is not stored
    assert panel.bench.stops_asked == 1 and panel.errors == []                 # cancelled is not an error
    assert panel.current_ids == [panel.configs(panel.values())[0].config_id]


def test_stored_runs_are_drawn_at_once_without_training_again(panels):
    training, _, _ = panels
    first = training(FakeTrain())
    assert first.wait(20)
    first.set(label_noise=0.2)
    assert first.wait(20)
    fresh = FakeTrain()
    again = training(fresh)                         # a new kernel on the same store: the default selection
    assert again.wait(20)
    assert fresh.calls == [] and again.measure_calls == 0
    assert list(again.rows["from_store"]) == [True]
    assert again.redraw_log[-1][1] == 10            # the stored selection and the earlier run (grey), 5 points each
    assert "0 measured, 1 stored before" in again.status.value


def test_a_failed_run_shows_one_line(panels):
    training, _, store = panels
    panel = training(FakeTrain(fail="boom\nsecond line of the message"))
    assert panel.wait(20)
    assert panel.errors == ["digits-mlp · noise 0 · kept 1 · batch 64 · fp32 · seed 0: RuntimeError: boom"]
    assert "second line" not in panel.error.value and "RuntimeError: boom" in panel.error.value
    assert store.rows(kind="training")[0]["error"] == "RuntimeError: boom"   # stored, with its one line


def test_a_bad_value_is_refused_naming_the_field(panels):
    training, _, _ = panels
    panel = training(FakeTrain(), autostart=False)
    with pytest.raises(FieldError, match=r"^label_noise=1.5 is not allowed"):
        panel.set(label_noise=1.5)
    assert panel.values()["label_noise"] == 0.0
    with pytest.raises(FieldError, match="a training control"):
        TrainingPanel(TrainBench(None, measure=FakeTrain()), values={"noise": 0.1})


def test_set_refuses_what_a_widget_cannot_show_before_any_widget_changes(panels):
    training, data, _ = panels
    panel = training(FakeTrain(), autostart=False)
    before = panel.values()
    # a valid TrainConfig, but the slider ends at 120 s: ipywidgets would have clamped it to 120 silently
    with pytest.raises(FieldError, match=r"^time_budget_s=300 is not allowed: a number from 1 to 120"):
        panel.set(time_budget_s=300)
    # a valid TrainConfig, but not offered: the dropdown would raise after label_noise had changed
    with pytest.raises(FieldError, match=r"^batch_size=100 is not allowed: one of 8, 16, 32, 64, 128, 256"):
        panel.set(label_noise=0.2, batch_size=100)
    assert panel.values() == before and panel.measure_calls == 0
    loader = data(FakeLoader(), autostart=False)
    with pytest.raises(FieldError, match=r"^num_workers=\(0, 8\) is not allowed: one or more of 0, 1, 2, 4"):
        loader.set(num_workers=(0, 8))            # a valid LoaderConfig; no toggle would have shown 8
    assert loader.values()["num_workers"] == (0, 1, 2)
    started = data(FakeLoader(), autostart=False, values={"batch_size": 100})  # its dropdown offers 100 too
    started.set(batch_size=128).set(batch_size=100)
    assert started.values()["batch_size"] == 100


def test_loader_points_appear_as_measured(panels):
    _, data, store = panels
    holder = []
    fake = FakeLoader(before=lambda config: holder[0].redrawer.flush(5) if holder else None)
    panel = data(fake, autostart=False)
    holder.append(panel)
    panel.start()
    assert panel.wait(20)
    assert drawn_counts(panel) == [0, 1, 2, 3]
    assert [c.num_workers for c in fake.calls] == [0, 1, 2]
    assert len(store.rows(kind="loader")) == 3 and list(panel.rows["stall_frac"]) == pytest.approx([0.6, 0.3, 0.2])
    panel.set(num_workers=(0, 1))                   # a subset: served from the session, nothing measured
    assert panel.wait(20) and len(fake.calls) == 3 and "0 measured, 2 stored before" in panel.status.value


def test_the_training_tab_starts_when_shown_and_measurements_never_overlap(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    train_fake, loader_fake = FakeTrain(between=lambda c, e: time.sleep(0.02)), FakeLoader(seconds=0.05)
    dash = DataTrainDashboard(LoaderBench(store, budget="quick", measure=loader_fake),
                              TrainBench(store, budget="quick", measure=train_fake), debounce_s=0.0,
                              min_redraw_s=0.0)
    try:
        assert not dash.training.started and dash.tabs.get_title(1) == "Training"
        dash.tabs.selected_index = 1                 # shown: the training tab measures now, beside the loader
        assert dash.wait(20)
        assert len(train_fake.calls) == 1 and len(loader_fake.calls) == 3
        spans = sorted(train_fake.intervals + loader_fake.intervals)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))  # one at a time
    finally:
        dash.close()


@pytest.mark.slow
def test_real_training_and_loader_on_tiny_settings(tmp_path):
    """lab.train.train and lab.data's measure for real: digits-mlp to 0.5 (one epoch), the loader alone."""
    store = Store(tmp_path / "store.sqlite")
    dash = DataTrainDashboard(store=store, tab="training", debounce_s=0.0,
                              data={"dataset": "digits", "model": "none", "num_workers": (0,), "sample_cost_ms": 0.0},
                              training={"target_accuracy": 0.5, "time_budget_s": 1.0})
    try:
        assert dash.training.wait(60)
        row = dash.training.rows.iloc[-1]
        assert row["error"] is None and row["energy_source"] and len(row["curve"]) == row["epochs"] >= 1
        assert dash.training.points_seen == row["epochs"]           # every epoch reached the panel live
        assert len(store.rows(kind="training")) == 1
        dash.tabs.selected_index = 0
        assert dash.data.wait(60)
        loader = dash.data.rows.iloc[-1]
        assert loader["error"] is None and loader["loader_sps"] > 0 and 0 <= loader["stall_frac"] <= 1
        assert dash.data.points.value == "1" and len(store.rows(kind="loader")) == 1
    finally:
        dash.close()


def test_a_failed_loader_measurement_shows_one_line_and_the_others_are_drawn(panels):
    _, data, _ = panels

    def fail_at_two(config):
        if config.num_workers == 2:
            raise OSError("no such file: data/generated/mnist1d/0.png\ntraceback line")
    panel = data(FakeLoader(before=fail_at_two))
    assert panel.wait(20)
    assert panel.errors == ["mnist1d · memory · 2 workers · batch 64 · 0.2 ms/sample · mnist1d-cnn: "
                            "OSError: no such file: data/generated/mnist1d/0.png"]
    assert panel.points.value == "2" and "traceback line" not in panel.error.value
