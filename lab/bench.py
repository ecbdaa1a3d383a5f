"""The path: one object between every front end and the store.

The CLI's ``run`` and ``sweep``, ``lab.sweep``, ``lab.study.run`` and the
dashboard's worker all ask a ``Bench`` for rows. It alone

- opens the store (``open_store``: one meaning of None, a path, the default);
- knows the environment of each device (``environment``, cached per Bench);
- decides whether a stored row may answer a request (``serves``: the one reuse rule);
- measures what is missing and commits each row the moment it is measured.

Tests inject a fake ``measure``, a fake ``environment`` and a fake ``clock`` here, and nowhere else::

    bench = Bench(store=None, measure=lambda config, budget, **_: {"latency_ms_p50": 1.0})
    bench.rows(lab.grid(model="digits-mlp", batch_size=[1, 8]))

The reuse rule. A stored row answers a request when it has
- the same config (config_id) and environment (env_id: torch, device, CPU, host, measurement code);
- the same measuring-code version (``lab.version.MEASUREMENT_VERSION``);
- the same model fingerprint (weights and code of the model, where the registry knows it);
- a budget at least as strict as the request's (``lab.budget.at_least_as_strict``) and the same
  idle-baseline choice (an idle-subtracted energy is a different quantity);
- no error, and no contention (a row measured while other processes held the cores is stored,
  flagged, and never served as clean).

What it shares with the loader and training paths (store, environments, error rows, commits, the
round-by-round walk) is lab.paths.RowPath; what is its own here is the reuse rule above, the
transformed-model cache and the Ray cluster for '<node>/<device>' configurations.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from lab import hardware, prepare, runner, support
from lab.budget import Budget, at_least_as_strict
from lab.cluster import names as device_names
from lab.config import Config, as_configs
from lab.paths import DEFAULT_STORE, RowPath, open_store
from lab.store import Store
from lab.version import MEASUREMENT_VERSION

# DEFAULT_STORE and open_store live in lab.paths (every path opens its store the same way); they are
# still importable from here, where front ends and tests have always found them.
__all__ = ["DEFAULT_STORE", "Bench", "default_measure", "measure", "open_store", "sweep"]

# What a Bench measures with unless given ``measure=``; a test swaps this one name to run every
# front end (CLI, studies, dashboard) on a fake measure (tests/conftest.py: fake_measure).
default_measure: Callable[..., dict] = runner.measure_row


class Bench(RowPath):
    """Rows for configurations: from the store where the reuse rule allows, measured otherwise.

    store:       DEFAULT_STORE, a path, a Store, or None (measure without storing)
    budget:      the default budget of requests: a Budget or its name ('default', 'quick')
    measure:     ``measure(config, budget, *, store, env) -> dict`` of measured fields (default:
                 lab.runner.measure_row); the Bench adds the identity, commits, and turns an
                 exception into an error row
    environment: ``device -> dict`` with 'env_id' (default lab.hardware.environment)
    clock:       wall-clock seconds, for ``seconds`` on each measured row
    cluster:     where '<node>/<device>' configurations are measured: a lab.cluster.session.Cluster,
                 its address, or None ($LAB_CLUSTER, joined on the first such configuration; Ray is
                 never imported while every device is this machine's). Their rows come back from
                 the node and are committed here, with the node's environment.
    """

    _reuse_args = ("budget",)  # row(config, budget=...): which stored rows serve depends on the budget

    def __init__(self, store: Store | str | None = DEFAULT_STORE, *, budget: Budget | str = "default",
                 measure: Callable[..., dict] | None = None, environment: Callable[[str], dict] | None = None,
                 clock: Callable[[], float] = time.perf_counter, cluster=None):
        super().__init__(store, budget=budget, measure=measure or default_measure, environment=environment,
                         clock=clock)
        # Transformed models, one per transform group: a sweep's batch sizes and threads reuse them.
        self.prepared = prepare.PreparedCache()
        self._cluster = cluster

    def cluster(self):
        """The Ray cluster '<node>/<device>' configurations go to, joined now if not yet
        (lab.cluster.session.ClusterError, one line, when it can't be)."""
        from lab.cluster import session

        if self._cluster is None or isinstance(self._cluster, str):
            self._cluster = session.connect(self._cluster)
        return self._cluster

    # --- the environment -------------------------------------------------------------------------
    def environment(self, device: str) -> dict:
        """The fingerprint stored beside rows measured on ``device`` (computed once per Bench)."""
        return super().environment(hardware.normalize_device(device))

    def _fingerprint(self, device: str) -> dict:
        return self.cluster().environment(device) if device_names.is_node_device(device) else self._environment(device)

    # --- the one reuse rule ----------------------------------------------------------------------
    def serves(self, row: dict, budget: Budget | None = None) -> bool:
        """May stored ``row`` answer a request made with ``budget``? (The rule is in the module docstring.)"""
        budget = budget or self.budget
        if row.get("error") or row.get("contended"):
            return False
        if row.get("measurement_version") != MEASUREMENT_VERSION:
            return False
        if not at_least_as_strict(row.get("budget", "default"), budget.name):
            return False
        if (row.get("idle_power_w") is not None) != (budget.idle_baseline_s > 0):
            return False
        fingerprint = prepare.model_fingerprint(row.get("model"))
        return fingerprint is None or row.get("model_fingerprint") == fingerprint

    def stored(self, config: Config, budget: Budget | None = None) -> list[dict]:
        """The stored rows that may answer ``config`` (oldest first), each with ``from_store`` True."""
        return self._stored(config, lambda row: self.serves(row, budget))

    # --- measuring -------------------------------------------------------------------------------
    def measure(self, config: Config, budget: Budget | None = None) -> dict:
        """Measure ``config`` now (never from the store) and commit the row before returning it.

        Never raises for a failure while measuring: the row's ``error`` says why, in one line
        ("unsupported: ..." where this machine can't run it, "out of memory: ...", ...).
        """
        budget = budget or self.budget
        env = self.environment(config.device)
        row = self._new_row(config, env, budget, measurement_version=MEASUREMENT_VERSION,
                            model_fingerprint=prepare.model_fingerprint(config.model))
        started = self.clock()
        remote = device_names.is_node_device(config.device)  # the node says what it can't run
        reason = None if remote else support.why_not(config)
        if reason is not None:
            row["error"] = f"unsupported: {reason}"
        else:
            measure = self.cluster().measure if remote else self._measure
            self._fill(row, lambda: measure(config, budget, store=self.store, env=env, prepared=self.prepared))
        row["seconds"] = self.clock() - started
        return self._commit(row, env)

    def rows(self, configs: Config | Iterable[Config], *, repeats: int = 1, force: bool = False,
             budget: Budget | None = None, on_row: Callable[[dict], None] | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[dict]:
        """``repeats`` rows per configuration: stored ones that serve, then measurements of the rest.

        Stored rows come first (the newest ``repeats``), then the missing repeats are measured
        round by round across the configurations (repeat 1 of every configuration, then repeat
        2, ...): repeats run back to back would all hit the same slow spell of a busy machine.
        A configuration whose measurement failed gets no further repeats (they would fail the
        same way). force: measure every repeat anew.
        on_row(row) as each row is ready; progress(done, total) after each, total = configs x repeats.
        """
        return self._rows(as_configs(configs), repeats, force=force, on_row=on_row, progress=progress,
                          stored=lambda config: self.stored(config, budget),
                          measure=lambda config: self.measure(config, budget),
                          before_round=lambda todo: self._submit_remote(todo, budget))

    def _submit_remote(self, configs: list[Config], budget: Budget | None) -> None:
        """Queue a round's cluster configurations on their nodes at once: each node measures one at a
        time, the nodes in parallel; ``measure`` then collects (and commits) them in order."""
        remote = [c for c in configs if device_names.is_node_device(c.device)]
        if remote:
            envs = {c.device: self.environment(c.device) for c in remote}
            self.cluster().submit(remote, budget or self.budget, envs)


def measure(config: Config, *, budget: Budget | str = "default", store: Store | str | None = None) -> dict:
    """Measure one configuration and return its row (see lab.columns for every field).

    Never raises for a failure while measuring: the row's ``error`` says why.
    With ``store``, the row is committed before this returns.
    """
    return Bench(store, budget=budget).measure(config)


def sweep(configs: Config | Iterable[Config], *, store: Store | str | None = DEFAULT_STORE, force: bool = False,
          budget: Budget | str = "default", repeats: int = 1, on_row: Callable[[dict], None] | None = None,
          progress: Callable[[int, int], None] | None = None):
    """Measure each configuration (or take it from the store) and return every row as a DataFrame.

    store:    where rows are committed as they are measured (default: the lab's store; a path;
              or None for no storing)
    force:    re-measure configurations the store already holds (otherwise a stored row that
              the reuse rule allows is returned, with ``from_store`` True)
    budget:   a Budget or its name ('default', 'quick')
    on_row:   called with each row as soon as it is ready (for live plots, CLI output)
    progress: called as progress(done, total) after each row
    """
    return Bench(store, budget=budget).sweep(configs, repeats=repeats, force=force, on_row=on_row,
                                             progress=progress)
