"""The training path: one object between every front end and the store, for training rows.

A lab.paths.RowPath, as lab.bench.Bench is (store, environments, error rows and the round-by-round
walk come from there), with its own reuse rule. A stored training row answers a request when
it has the same config (config_id) and environment (env_id), the same version of the training code
(``TRAINING_VERSION``), a budget at least as strict, no error and no contention. What is missing is
measured (``lab.train.train``) and committed the moment it is measured; a failure becomes an error
row with one line, never an exception.

A cancelled run (``should_stop()`` returned True) is returned with ``error="cancelled"`` but NOT
stored: it says nothing about the configuration, and a stored one would only be noise beside the
real failures.

Every row has ``kind="training"`` (lab.store keeps kinds apart: ``Store.rows(kind="training")``).
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterable

from lab.budget import Budget, at_least_as_strict
from lab.paths import DEFAULT_STORE, RowPath
from lab.store import Store
from lab.train.config import TrainConfig, as_configs
from lab.train.loop import CANCELLED, train

KIND = "training"
# Bump whenever a change alters what a training row's numbers mean (the loop, the data knobs, what is
# counted in tta_s / eta_j): older rows are then trained again instead of being served.
TRAINING_VERSION = 1


# The real measurement: lab.train.train with the real clock, energy source and contention meter. A module
# global, looked up at each TrainBench(), so tests can monkeypatch it.
default_measure: Callable[..., dict] = train


class TrainBench(RowPath):
    """Training rows for configurations: from the store where the reuse rule allows, trained otherwise.

    store:       DEFAULT_STORE, a path, a Store, or None (train without storing)
    budget:      'default' | 'quick' (or a Budget): recorded on each row for the reuse rule; how long a
                 run may train is the config's own time_budget_s and max_epochs
    measure:     ``measure(config, *, on_epoch, should_stop) -> dict`` of measured fields (default: train)
    environment: ``device -> dict`` with 'env_id' (default lab.hardware.environment)
    clock:       wall-clock seconds, for ``wall_s`` on each measured row (the whole call: data, model, run)
    """

    kind = KIND

    def __init__(self, store: Store | str | None = DEFAULT_STORE, *, budget: Budget | str = "default",
                 measure: Callable[..., dict] | None = None, environment: Callable[[str], dict] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__(store, budget=budget, measure=measure or default_measure, environment=environment,
                         clock=clock)

    def serves(self, row: dict) -> bool:
        """May stored ``row`` answer a request? (The rule is in the module docstring.)"""
        return (row.get("kind") == KIND and not row.get("error") and not row.get("contended")
                and row.get("training_version") == TRAINING_VERSION
                and at_least_as_strict(row.get("budget", "default"), self.budget.name))

    def stored(self, config: TrainConfig) -> list[dict]:
        """The stored rows that may answer ``config`` (oldest first), each with ``from_store`` True."""
        return self._stored(config, self.serves)

    def measure(self, config: TrainConfig, on_epoch: Callable[[dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict:
        """Train ``config`` now (never from the store) and commit the row before returning it.

        Never raises for a failure while training: the row's ``error`` says why, in one line.
        A cancelled run is returned with error "cancelled" and not committed."""
        env = self.environment(config.device)
        row = self._new_row(config, env, self.budget, training_version=TRAINING_VERSION)
        started = self.clock()
        if not self._fill(row, lambda: self._measure(config, on_epoch=on_epoch, should_stop=should_stop)):
            row.update({k: math.nan for k in ("tta_s", "eta_j", "best_accuracy", "final_accuracy",
                                              "seconds", "energy_j") if k not in row})
            for key, value in (("reached", False), ("curve", []), ("contended", False), ("epochs", 0),
                               ("samples_seen", 0), ("energy_source", None)):
                row.setdefault(key, value)  # the contract's columns, on every row (nothing was measured)
        row["wall_s"] = self.clock() - started
        return self._commit(row, env, store=row.get("error") != CANCELLED)

    def rows(self, configs: TrainConfig | Iterable[TrainConfig], repeats: int = 1, *, force: bool = False,
             on_row: Callable[[dict], None] | None = None, progress: Callable[[int, int], None] | None = None,
             on_epoch: Callable[[TrainConfig, dict], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> list[dict]:
        """``repeats`` rows per configuration: stored ones that serve, then training runs for the rest.

        Missing repeats are trained round by round across the configurations (as lab.bench.Bench does);
        a configuration whose run failed gets no further repeats. on_row(row) as each row is ready;
        progress(done, total) after each; on_epoch(config, point) for every curve point; should_stop()
        cancels (the cancelled run's row is returned, not stored, and nothing further is trained).
        """
        configs = as_configs(configs)

        def measure(config):
            point_cb = None if on_epoch is None else (lambda p: on_epoch(config, p))
            return self.measure(config, on_epoch=point_cb, should_stop=should_stop)

        return self._rows(configs, repeats, force=force, on_row=on_row, progress=progress, stored=self.stored,
                          measure=measure, should_stop=should_stop,
                          ends_run=lambda row: row.get("error") == CANCELLED)
