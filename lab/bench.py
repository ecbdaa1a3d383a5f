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
"""
from __future__ import annotations

import datetime
import time
import traceback
from typing import Callable, Iterable

from lab import hardware, prepare, runner, support
from lab.budget import Budget, at_least_as_strict
from lab.config import Config, as_configs
from lab.store import Store
from lab.version import MEASUREMENT_VERSION

DEFAULT_STORE = "default"  # sentinel: the store at lab.store.default_path()
# What a Bench measures with unless given ``measure=``; a test swaps this one name to run every
# front end (CLI, studies, dashboard) on a fake measure (tests/conftest.py: fake_measure).
default_measure: Callable[..., dict] = runner.measure_row


def open_store(store: Store | str | None, *, create: bool = True) -> Store | None:
    """None: no store; DEFAULT_STORE: $LAB_STORE or data/results/lab.sqlite; a path; or a Store as it is."""
    if store is None or isinstance(store, Store):
        return store
    return Store(None if store == DEFAULT_STORE else store, create=create)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Bench:
    """Rows for configurations: from the store where the reuse rule allows, measured otherwise.

    store:       DEFAULT_STORE, a path, a Store, or None (measure without storing)
    budget:      the default budget of requests: a Budget or its name ('default', 'quick')
    measure:     ``measure(config, budget, *, store, env) -> dict`` of measured fields (default:
                 lab.runner.measure_row); the Bench adds the identity, commits, and turns an
                 exception into an error row
    environment: ``device -> dict`` with 'env_id' (default lab.hardware.environment)
    clock:       wall-clock seconds, for ``seconds`` on each measured row
    """

    def __init__(self, store: Store | str | None = DEFAULT_STORE, *, budget: Budget | str = "default",
                 measure: Callable[..., dict] | None = None, environment: Callable[[str], dict] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.store = open_store(store)
        self.budget = Budget.named(budget) if isinstance(budget, str) else budget
        self._measure = measure or default_measure
        self._environment = environment or hardware.environment
        self._environments: dict[str, dict] = {}
        # Transformed models, one per transform group: a sweep's batch sizes and threads reuse them.
        self.prepared = prepare.PreparedCache()
        self.clock = clock

    def __repr__(self) -> str:
        return f"Bench(store={self.store!r}, budget={self.budget.name!r})"

    # --- the environment -------------------------------------------------------------------------
    def environment(self, device: str) -> dict:
        """The fingerprint stored beside rows measured on ``device`` (computed once per Bench)."""
        device = hardware.normalize_device(device)
        if device not in self._environments:
            self._environments[device] = self._environment(device)
        return self._environments[device]

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
        if self.store is None:
            return []
        env_id = self.environment(config.device)["env_id"]
        rows = self.store.rows(config_id=config.config_id, env_id=env_id)
        return [{**r, "from_store": True} for r in rows if self.serves(r, budget)]

    # --- measuring -------------------------------------------------------------------------------
    def measure(self, config: Config, budget: Budget | None = None) -> dict:
        """Measure ``config`` now (never from the store) and commit the row before returning it.

        Never raises for a failure while measuring: the row's ``error`` says why, in one line
        ("unsupported: ..." where this machine can't run it, "out of memory: ...", ...).
        """
        budget = budget or self.budget
        env = self.environment(config.device)
        row = {**config.to_dict(), "config_id": config.config_id, "env_id": env["env_id"],
               "measured_at": _now(), "budget": budget.name, "measurement_version": MEASUREMENT_VERSION,
               "model_fingerprint": prepare.model_fingerprint(config.model), "error": None}
        started = self.clock()
        reason = support.why_not(config)
        if reason is not None:
            row["error"] = f"unsupported: {reason}"
        else:
            try:
                measured = self._measure(config, budget, store=self.store, env=env, prepared=self.prepared)
                if not isinstance(measured, dict):
                    raise TypeError(f"measure returned {type(measured).__name__}, not a dict of columns")
                row.update((k, v) for k, v in measured.items() if k not in ("config_id", "env_id"))
            except Exception as exc:  # noqa: BLE001 — any failure becomes the row's error; the sweep goes on
                row["error"] = runner.one_line(exc)
                row["error_detail"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]
        row["seconds"] = self.clock() - started
        if self.store is not None:
            row["id"] = self.store.add(row, env)
        return {**row, **{k: v for k, v in env.items() if k not in row}, "from_store": False}

    def row(self, config: Config, *, budget: Budget | None = None, force: bool = False) -> dict:
        """The newest stored row that may answer ``config``, else a new measurement."""
        found = [] if force else self.stored(config, budget)
        return found[-1] if found else self.measure(config, budget)

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
        configs = as_configs(configs)
        total, done, out = len(configs) * repeats, 0, []

        def emit(row):
            nonlocal done
            done += 1
            out.append(row)
            if on_row is not None:
                on_row(row)
            if progress is not None:
                progress(done, total)

        missing = {}
        for config in configs:
            found = [] if force else self.stored(config, budget)[-repeats:]
            for row in found:
                emit(row)
            missing[config] = repeats - len(found)
        failed = set()
        for round_ in range(repeats):
            for config in configs:
                if missing[config] > round_ and config not in failed:
                    row = self.measure(config, budget)
                    emit(row)
                    if row.get("error"):
                        failed.add(config)
        if progress is not None and done < total:  # repeats skipped after a failure
            progress(total, total)
        return out

    def sweep(self, configs: Config | Iterable[Config], **kwargs):
        """``rows(...)`` as a pandas DataFrame (one row per configuration x repeat)."""
        import pandas as pd

        return pd.DataFrame(self.rows(configs, **kwargs))


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
