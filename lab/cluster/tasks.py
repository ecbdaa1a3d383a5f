"""What runs on a cluster node, as plain functions the session wraps in Ray tasks.

Each runs in a Ray worker process on the node, with the lab installed there: ``describe_node``
is ``python -m lab env`` of that machine; ``measure_on_node`` is lab.runner.measure_row of one
configuration on it. Failures come back as an ``error`` column (one line, as on this machine):
the local Bench commits the row either way.
"""
from __future__ import annotations

import time

from lab import hardware, paths, prepare, runner, support
from lab.measure import energy
from lab.config import Config
from lab.models import registry

# Transformed models, kept in the worker process between tasks: a sweep's batch sizes reuse one,
# as on this machine (Ray reuses a worker for tasks of the same function and resources).
_PREPARED = prepare.PreparedCache()


def describe_node() -> dict:
    """The node's lab.measure.energy.describe_with_energy() (as ``python -m lab env`` shows this machine),
    each device also with its environment fingerprint."""
    info = energy.describe_with_energy()
    for dev in info["devices"]:
        dev["environment"] = hardware.environment(dev["device"])
    return info


# A user's model arrives unpickled anew with every configuration: a new spec object each time, so
# the caches keyed by the spec (lab.prepare's built model and fingerprint, PreparedCache's transform
# key) would never hit. The first copy of each (name, driver's fingerprint) is kept and registered
# instead: later configurations of that model reuse its built and transformed models. One entry per
# distinct model a driver ships (a changed model has another fingerprint).
_SHIPPED: dict[tuple[str, str], object] = {}


def _register(model_by_value, fingerprint: str | None = None):
    """A user's model, shipped by value (its registry entry, cloudpickled by Ray), registered here;
    the spec registered (the first one shipped with this name and ``fingerprint``), or None."""
    if model_by_value is None:
        return None
    spec = model_by_value
    if fingerprint is not None:
        spec = _SHIPPED.setdefault((model_by_value.name, fingerprint), model_by_value)
    return registry.register(spec)


def measure_on_node(fields: dict, budget, *, env: dict, model_by_value=None, fingerprint: str | None = None) -> dict:
    """Measure the configuration ``fields`` (device: this node's own name for it) and return its
    measured columns, or ``{"error": ...}`` saying in one line why it could not run here.
    ``node_seconds``: the wall time of this task on the node (s). The row's ``seconds`` minus it is
    what the cluster path added (shipping, scheduling, the result's way back) only when the
    configuration was measured alone (Bench.measure; benchmarks/cluster.py measures so): Bench.rows
    queues a round on every node at once, and a row collected after others shows ``seconds`` near 0
    (it finished while they were collected) or inflated (it waited behind its node's queue)."""
    started = time.perf_counter()
    try:
        _register(model_by_value, fingerprint)
        config = Config(**fields)
        reason = support.why_not(config)
        if reason is not None:
            return {"error": f"unsupported: {reason}"}
        if model_by_value is None and fingerprint is not None:
            here = prepare.model_fingerprint(config.model)
            if here != fingerprint:  # the built-in's weights or code differ from the driver's
                return {"error": f"model {config.model!r} on this node has fingerprint {here}, not the driver's "
                                 f"{fingerprint}: install the same lab version (and weights) on every node"}
        row = runner.measure_row(config, budget, store=None, env=env, prepared=_PREPARED)
        row["threads"] = config.threads  # resolved on the node: None meant every core of this node
        row["node_seconds"] = time.perf_counter() - started
        return row
    except Exception as exc:  # noqa: BLE001 — any failure becomes the row's error, as locally
        return paths.error_columns(exc)
