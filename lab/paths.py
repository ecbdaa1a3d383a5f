"""What every path to the store shares: lab.bench.Bench (inference rows), lab.data.bench.LoaderBench
(loader rows) and lab.train.bench.TrainBench (training rows) are each a ``RowPath``.

A RowPath opens the store (``open_store``), keeps one environment per device, builds each row's
identity, turns a failure while measuring into an error row (one line, never an exception), commits
each row the moment it is measured, and walks the configurations round by round (``_rows``).
Each path keeps its own reuse rule (``serves``) and its own measuring call; this module holds no
rule about what a row means.
"""
from __future__ import annotations

import time
import traceback
from typing import Callable

from lab import hardware
from lab.budget import Budget
from lab.errors import FieldError
from lab.runner import one_line
from lab.store import INFERENCE, Store, utc_now

DEFAULT_STORE = "default"  # sentinel: the store at lab.store.default_path()


def open_store(store: Store | str | None, *, create: bool = True) -> Store | None:
    """None: no store; DEFAULT_STORE: $LAB_STORE or data/results/lab.sqlite; a path; or a Store as it is."""
    if store is None or isinstance(store, Store):
        return store
    return Store(None if store == DEFAULT_STORE else store, create=create)


def error_columns(exc: BaseException) -> dict:
    """The columns a failed measurement's row carries: ``error`` (one line, lab.runner.one_line) and
    ``error_detail`` (the exception's own lines, its last 2000 characters). The same here and on a
    cluster node (lab.cluster.tasks)."""
    return {"error": one_line(exc),
            "error_detail": "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]}


class RowPath:
    """The shared half of a path: store, budget, environments, row identity, error rows, commits, rounds.

    A subclass sets ``kind`` (its rows' ``kind`` column; None for inference rows, which carry none)
    and ``budget_type`` (whose ``named`` turns 'default' / 'quick' into a budget), and writes its own
    ``serves``, ``stored``, ``measure`` and ``rows`` on top of the helpers below.
    """

    kind: str | None = None
    budget_type = Budget

    def __init__(self, store: Store | str | None, *, budget, measure: Callable[..., dict],
                 environment: Callable[[str], dict] | None, clock: Callable[[], float] = time.perf_counter):
        self.store = open_store(store)
        self.budget = self.budget_type.named(budget) if isinstance(budget, str) else budget
        self._measure = measure
        self._environment = environment or hardware.environment
        self._environments: dict[str, dict] = {}
        self.clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={self.store!r}, budget={self.budget.name!r})"

    def environment(self, device: str) -> dict:
        """The fingerprint stored beside rows measured on ``device`` (computed once per path)."""
        if device not in self._environments:
            self._environments[device] = self._fingerprint(device)
        return self._environments[device]

    def _fingerprint(self, device: str) -> dict:
        """The environment of ``device``, uncached (a path with other machines overrides this)."""
        return self._environment(device)

    def _stored(self, config, serves: Callable[[dict], bool]) -> list[dict]:
        """The stored rows of ``config`` in this environment that ``serves`` accepts (oldest first),
        each with ``from_store`` True."""
        if self.store is None:
            return []
        env_id = self.environment(config.device)["env_id"]
        rows = self.store.rows(config_id=config.config_id, env_id=env_id, kind=self.kind or INFERENCE)
        return [{**r, "from_store": True} for r in rows if serves(r)]

    # row() keyword arguments that decide reuse as well as the measurement, passed to stored() too
    # (Bench: budget); every other keyword goes to measure() alone (TrainBench: on_epoch, should_stop).
    _reuse_args: tuple[str, ...] = ()

    def row(self, config, force: bool = False, **kwargs) -> dict:
        """The newest stored row that may answer ``config``, else a new measurement (``force``: always
        measure). ``kwargs`` go to the subclass's ``measure`` (and those named in ``_reuse_args`` to its
        ``stored``)."""
        found = [] if force else self.stored(config, **{k: kwargs[k] for k in self._reuse_args if k in kwargs})
        return found[-1] if found else self.measure(config, **kwargs)

    def _new_row(self, config, env: dict, budget, **versions) -> dict:
        """A row's identity before it is measured: kind, knobs, ids, time, budget, code versions."""
        kind = {"kind": self.kind} if self.kind else {}
        return {**kind, **config.to_dict(), "config_id": config.config_id, "env_id": env["env_id"],
                "measured_at": utc_now(), "budget": budget.name, **versions, "error": None}

    def _fill(self, row: dict, measure: Callable[[], dict]) -> bool:
        """Add what ``measure()`` returns to ``row``; False when it failed, the row then saying why
        (``error``: one line; ``error_detail``: the exception's last lines). Never raises."""
        own = ("kind", "config_id", "env_id") if self.kind else ("config_id", "env_id")
        try:
            measured = measure()
            if not isinstance(measured, dict):
                raise TypeError(f"measure returned {type(measured).__name__}, not a dict of columns")
            row.update((k, v) for k, v in measured.items() if k not in own)
            return True
        except Exception as exc:  # noqa: BLE001 — any failure becomes the row's error; the sweep goes on
            row.update(error_columns(exc))
            return False

    def _commit(self, row: dict, env: dict, *, store: bool = True) -> dict:
        """Store ``row`` now (unless ``store`` is False) and return it merged with its environment."""
        if self.store is not None and store:
            row["id"] = self.store.add(row, env)
        return {**row, **{k: v for k, v in env.items() if k not in row}, "from_store": False}

    def _rows(self, configs: list, repeats: int, *, force: bool, stored: Callable[[object], list[dict]],
              measure: Callable[[object], dict], on_row: Callable[[dict], None] | None = None,
              progress: Callable[[int, int], None] | None = None,
              before_round: Callable[[list], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              ends_run: Callable[[dict], bool] | None = None) -> list[dict]:
        """``repeats`` rows per configuration: ``stored(config)`` ones first (the newest ``repeats``;
        none with ``force``), then the missing repeats ``measure(config)``d round by round across the
        configurations (repeat 1 of every configuration, then repeat 2, ...): repeats run back to back
        would all hit the same slow spell of a busy machine. A configuration whose row has an error
        gets no further repeats (they would fail the same way).

        on_row(row) as each row is ready; progress(done, total) after each, total = configs x repeats,
        and (total, total) at the end when failures skipped repeats. before_round(todo) before each
        round's measurements; should_stop() before each one, and ends_run(row) after it, stop the
        whole walk (returning the rows so far). ``repeats`` not a whole number from 1: FieldError.
        """
        # Checked here, the one place every path's rows() reaches, before any stored row is read:
        # stored(config)[-0:] would return every stored row, not none.
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise FieldError("repeats", repeats, "a whole number from 1")
        total, out = len(configs) * repeats, []

        def emit(row):
            out.append(row)
            if on_row is not None:
                on_row(row)
            if progress is not None:
                progress(len(out), total)

        missing = {}
        for config in configs:
            found = [] if force else stored(config)[-repeats:]
            for row in found:
                emit(row)
            missing[config] = repeats - len(found)
        failed = set()
        for round_ in range(repeats):
            todo = [c for c in configs if missing[c] > round_ and c not in failed]
            if before_round is not None:
                before_round(todo)
            for config in todo:
                if config in failed:  # listed twice, and failed the first time
                    continue
                if should_stop is not None and should_stop():
                    return out
                row = measure(config)
                emit(row)
                if ends_run is not None and ends_run(row):
                    return out
                if row.get("error"):
                    failed.add(config)
        if progress is not None and len(out) < total:  # repeats skipped after a failure
            progress(total, total)
        return out

    def sweep(self, configs, **kwargs):
        """``rows(...)`` as a pandas DataFrame (one row per configuration x repeat)."""
        import pandas as pd

        return pd.DataFrame(self.rows(configs, **kwargs))
