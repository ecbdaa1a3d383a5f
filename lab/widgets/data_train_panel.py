"""lab.DataTrainDashboard: turn the data and training knobs, watch the loader's throughput and stall
fraction, and the accuracy-vs-energy curve grow epoch by epoch.

    dash = lab.DataTrainDashboard()            # last line of a cell: two tabs, Data and Training
    dash.training.set(label_noise=0.2); dash.training.wait(60); dash.training.rows

Data tab: one loader measurement per selected num_workers (lab.data.LoaderBench): samples/s of the
loader alone, the model alone and the two together, and the stall fraction, points appearing as
measured. Training tab: one run (lab.train.TrainBench) drawn epoch by epoch; a new selection stops it
at its next step (a cancelled run is not stored); earlier runs of the model, from this session and the
store, drawn grey at once; a stored run of the selection is drawn without training again. Both tabs
measure through the inference dashboard's Worker (newest selection wins, one measurement at a time in
the process, rows committed as measured). The Training tab starts measuring when first shown.

CSS classes for browser tests: lab-data-panel, lab-training-panel, lab-status, lab-points, lab-error.
"""
from __future__ import annotations

import ipywidgets as W

from lab.bench import DEFAULT_STORE
from lab.dashboard import data_train
from lab.dashboard.data_train_draw import draw_loader, draw_training
from lab.dashboard.live_runs import EpochBench, LiveCurves
from lab.version import __version__
from lab.widgets.live_panel import LivePanel

TABS = ("data", "training")
PAST_RUNS = 12  # earlier runs of the model drawn grey (the newest): more is a tangle, not a comparison
DRAW_WAIT_S = 5.0  # the longest an epoch boundary waits for its point to be drawn (a stuck canvas must not stall training)


class DataPanel(LivePanel):
    panel, title = "data", "Data"

    def __init__(self, bench=None, store=DEFAULT_STORE, *, budget="quick", values=None, **kwargs):
        from lab.data import LoaderBench

        start = data_train.merged("data", values or {})
        self.configs(start)  # a bad initial value: FieldError naming it, before any widget is made
        bench = bench if bench is not None else LoaderBench(store, budget=budget)
        super().__init__(bench, data_train.control_specs("data"), start, **kwargs)

    def configs(self, values: dict) -> list:
        return data_train.loader_configs(values)

    def describe(self, row) -> str:
        return data_train.describe_loader(row)

    def draw(self, axes, rows: list[dict]) -> int:
        return draw_loader(axes, rows, self.current_ids)


class TrainingPanel(LivePanel):
    panel, title = "training", "Training"

    def __init__(self, bench=None, store=DEFAULT_STORE, *, budget="quick", values=None, **kwargs):
        from lab.train import TrainBench

        start = data_train.merged("training", values or {})
        self.configs(start)
        train_bench = bench if bench is not None else TrainBench(store, budget=budget)
        self.curves = LiveCurves()
        self.points_seen = 0   # epoch points received from runs (tests)
        self._past: tuple[str, list[dict]] | None = None
        self._sources: dict[str, str | None] = {}
        self._latest = None   # (config, point): the newest epoch point, for the status line
        bench = EpochBench(train_bench, self.curves, on_point=self._on_point)
        super().__init__(bench, data_train.control_specs("training"), start, **kwargs)

    def configs(self, values: dict) -> list:
        return [data_train.train_config(values)]

    def describe(self, row) -> str:
        return data_train.describe_training(row)

    def before_submit(self) -> None:
        self.bench.stop_running()   # the run in progress stops at its next step (lab.train: should_stop)

    def _on_point(self, config, point: dict) -> None:
        """Worker thread, at an epoch boundary of a training run (lab.train pauses the run's clock and
        energy counter while this runs, so drawing costs the run nothing): count, and, where a frame is
        due, wait until the new point is drawn. Waiting, not drawing beside the next epoch: a draw on
        another thread would share the cores, and the process's CPU time, with the training it shows.
        Where no frame is due (the last ended under ``min_redraw_s`` ago), the point waits for a later
        boundary's frame, or the run's row: an epoch boundary never sits out the throttle's pause."""
        self.points_seen += 1
        self._latest = (config, point)
        if self.redrawer.due():
            self.redrawer.request()
            self.redrawer.flush(DRAW_WAIT_S)

    def past_runs(self, model: str) -> list[dict]:
        """Earlier runs of ``model`` in the store, measured in this environment, not errored (newest last)."""
        if self._past is not None and self._past[0] == model:
            return self._past[1]
        store, runs = getattr(self.bench, "store", None), []
        if store is not None:
            try:
                env_id = self.bench.environment("cpu")["env_id"]
            except Exception:  # noqa: BLE001 — a bench without environments: no past runs, not a failure
                env_id = None
            runs = [r for r in store.rows(kind="training") if r.get("model") == model and not r.get("error")
                    and env_id is not None and r.get("env_id") == env_id][-PAST_RUNS:]
        self._past = (model, runs)
        return runs

    def draw(self, axes, rows: list[dict]) -> int:
        ids = self.current_ids
        if self._request is None:
            return draw_training(axes, [], {}, None, None)  # refused selection: its one line says why
        current = self._request.configs[0]
        session = [r for r in rows if r.get("model") == current.model]
        seen = {r.get("config_id") for r in session}
        runs = [r for r in self.past_runs(current.model) if r.get("config_id") not in seen] + session
        live = self.curves.snapshot()
        running = self.curves.running
        live = {k: v for k, v in live.items() if k == running and k in ids}
        if live and self._latest is not None and self._latest[0].config_id in live:
            config, point = self._latest
            self._status(f"training {self.describe(config)}: epoch {point.get('epoch')}, "
                         f"accuracy {point.get('accuracy', float('nan')):.3f}")
        sources = [r.get("energy_source") for r in reversed(runs) if r.get("energy_source")]
        return draw_training(axes, runs, live, ids[0] if ids else None, current.target_accuracy,
                             label_of=lambda r: data_train.describe_training(r, short=True),
                             source=sources[0] if sources else self._source_of(current.device) if live else None,
                             live_labels={current.config_id: data_train.describe_training(current, short=True)})

    def _source_of(self, device: str) -> str | None:
        """The energy source a run on ``device`` reads (lab.train.train's default, choose_source): the live
        curve's axis names it before the run's row, which records it, is in."""
        if device not in self._sources:
            from lab.measure.energy import choose_source

            try:
                source = choose_source(device)
                self._sources[device] = source.name
                source.close()
            except Exception:  # noqa: BLE001 — unknown stays unknown: the axis says "not known yet"
                self._sources[device] = None
        return self._sources[device]


class DataTrainDashboard:
    """Two live panels in tabs: Data (lab.data) and Training (lab.train).

    loader_bench / train_bench: the paths to the store (tests inject fakes); default: a LoaderBench and a
        TrainBench on ``store`` with ``budget``
    tab: the tab shown first; it measures at once (``autostart``), the other when first shown
    data / training: initial control values of each panel (lab.dashboard.data_train)
    **kwargs: debounce_s, min_redraw_s for both panels
    """

    def __init__(self, loader_bench=None, train_bench=None, store=DEFAULT_STORE, *, budget="quick",
                 tab: str = "data", autostart: bool = True, data: dict | None = None, training: dict | None = None,
                 **kwargs):
        if tab not in TABS:
            raise ValueError(f"tab={tab!r} is not allowed: one of {', '.join(TABS)}")
        self.data = DataPanel(loader_bench, store, budget=budget, values=data, autostart=autostart and tab == "data",
                              **kwargs)
        self.training = TrainingPanel(train_bench, store, budget=budget, values=training,
                                      autostart=autostart and tab == "training", **kwargs)
        self.tabs = W.Tab(children=[self.data.widget, self.training.widget], selected_index=TABS.index(tab))
        for i, panel in enumerate((self.data, self.training)):
            self.tabs.set_title(i, panel.title)
        if autostart:
            self.tabs.observe(self._shown, names="selected_index")
        self.widget = W.VBox([W.HTML(f"<b>Efficiency Lab</b> {__version__}: data and training"), self.tabs]
                             ).add_class("lab-data-train")

    def _shown(self, change) -> None:
        (self.data, self.training)[change["new"]].start()

    def wait(self, timeout: float | None = None) -> bool:
        return self.data.wait(timeout) and self.training.wait(timeout)

    def close(self, timeout: float = 1.0) -> None:
        self.data.close(timeout)
        self.training.close(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
