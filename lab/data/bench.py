"""The data side's path: loader rows for loader configs, from the store where the reuse rule
allows, measured otherwise, each committed the moment it is measured (a lab.paths.RowPath, as
lab.bench.Bench is: store, environments, error rows and the round-by-round walk come from there).

    bench = LoaderBench(budget="quick")
    rows = bench.rows(lab.data.grid(dataset="mnist1d", num_workers=[0, 1, 2], sample_cost_ms=0.2))

The reuse rule. A stored loader row answers a request when it has the same config (config_id)
and environment (env_id), the same loader measuring code (LOADER_MEASUREMENT_VERSION), a budget
at least as strict (lab.budget.at_least_as_strict), no error and no contention. A failure while
measuring becomes a row whose ``error`` is one line (lab.runner.one_line), never an exception.
Safe to call from a background thread (the live panel's worker): DataLoader sets its SIGCHLD
handler only in the main thread, and nothing here keeps per-thread state.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from lab.budget import at_least_as_strict
from lab.data import generate
from lab.data.config import LoaderConfig, as_configs
from lab.data.measure import LOADER_MEASUREMENT_VERSION, LoaderBudget, measure_loader
from lab.paths import DEFAULT_STORE, RowPath
from lab.store import Store

KIND = "loader"
# What a LoaderBench measures with unless given ``measure=``; a test swaps this one name to run the
# CLI on a fake measure.
default_measure: Callable[..., dict] = measure_loader


class LoaderBench(RowPath):
    """Loader rows for LoaderConfigs (see the module docstring).

    store:       DEFAULT_STORE, a path, a Store, or None (measure without storing)
    budget:      'default', 'quick', or a LoaderBudget
    measure:     ``measure(config, budget, *, data_dir) -> dict`` of measured columns (default:
                 lab.data.measure.measure_loader); tests inject a fake
    environment: ``device -> dict`` with 'env_id' (default lab.hardware.environment)
    clock:       seconds, for ``seconds`` on each measured row
    data_dir:    where the on-disk copies live (default data/generated)
    """

    kind = KIND
    budget_type = LoaderBudget

    def __init__(self, store: Store | str | None = DEFAULT_STORE, *, budget: LoaderBudget | str = "default",
                 measure: Callable[..., dict] | None = None, environment: Callable[[str], dict] | None = None,
                 clock: Callable[[], float] = time.perf_counter, data_dir: Path | None = None):
        super().__init__(store, budget=budget, measure=measure or default_measure, environment=environment,
                         clock=clock)
        self.data_dir = data_dir

    def serves(self, row: dict) -> bool:
        """May stored ``row`` answer a request at this bench's budget? (The rule: module docstring.)"""
        if row.get("kind") != KIND or row.get("error") or row.get("contended"):
            return False
        if row.get("measurement_version") != LOADER_MEASUREMENT_VERSION:
            return False
        return at_least_as_strict(row.get("budget", "default"), self.budget.name)

    def stored(self, config: LoaderConfig) -> list[dict]:
        """The stored rows that may answer ``config`` (oldest first), each with ``from_store`` True.
        A set on disk written with ``--samples N`` is not the whole split: its rows answer only while
        the set on disk has that size (``dataset_samples``), and the whole split's only while it has."""
        on_disk = None if config.storage == "memory" else generate.samples_on_disk(
            config.dataset, self.data_dir or generate.GENERATED_DIR)
        return self._stored(config, lambda row: self.serves(row) and (
            on_disk is None or row.get("dataset_samples") in (None, on_disk)))

    def measure(self, config: LoaderConfig) -> dict:
        """Measure ``config`` now and commit the row before returning it; a failure is the row's ``error``."""
        env = self.environment(config.device)
        row = self._new_row(config, env, self.budget, measurement_version=LOADER_MEASUREMENT_VERSION)
        started = self.clock()
        self._fill(row, lambda: self._measure(config, self.budget, data_dir=self.data_dir))
        row["seconds"] = self.clock() - started
        return self._commit(row, env)

    def rows(self, configs: LoaderConfig | Iterable[LoaderConfig], repeats: int = 1, on_row=None, progress=None,
             *, force: bool = False) -> list[dict]:
        """``repeats`` rows per config: stored ones that serve, then measurements of the rest, round
        by round across the configs (as lab.bench.Bench.rows). A config that failed gets no further
        repeats. on_row(row) as each is ready; progress(done, total) after each."""
        return self._rows(as_configs(configs), repeats, force=force, on_row=on_row, progress=progress,
                          stored=self.stored, measure=self.measure)
