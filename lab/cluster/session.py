"""Joining a Ray cluster, its nodes and their devices, and measuring a configuration on its node.

    cluster = connect("127.0.0.2:6379")      # or LAB_CLUSTER=auto | host:port | ray://host:port
    cluster.nodes()                          # [Node(name='gpu-box', address='10.0.0.7', ...), ...]
    cluster.devices()                        # ['gpu-box/cpu', 'gpu-box/cuda:0', 'laptop/cpu']
    cluster.environment("gpu-box/cuda:0")    # that node's fingerprint (its own env_id)
    cluster.measure(config, budget, env=env) # measured columns, from a Ray task pinned to the node

A node is named by the custom resource ``lab_node:<name>`` it was started with (``ray start
--resources '{"lab_node:gpu-box": 1, "lab_measure": 1}'``), else by its IP address.
``lab_measure`` (1 per node) is what makes one measurement at a time per machine: every measuring
task asks for 1 of it, so a node never runs two, and different nodes run theirs in parallel.
A node started without it gets measuring tasks that ask for all of its CPUs instead.

Ray is imported here only inside functions: a lab that never joins a cluster never imports it.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import sys

from lab import hardware
from lab.cluster import names, shipping, tasks
from lab.errors import FieldError

ENV_VAR = "LAB_CLUSTER"
_POLL_S = 0.5  # how often a wait for a node's result checks that the node is still there
# What Ray raises for a task whose pinned node died or left (its message is a paragraph: we say it in one line).
_NODE_LEFT = ("NodeDiedError", "TaskUnschedulableError", "WorkerCrashedError", "LocalRayletDiedError")


class ClusterError(ValueError):
    """The cluster can't be joined or was lost; str() is one line naming where the address came from."""


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    node_id: str
    address: str
    alive: bool
    resources: dict


def requested(address: str | None = None) -> tuple[str | None, str]:
    """(the cluster address asked for, or None, and who asked: 'cluster' when ``address`` was given
    (connect's ``field`` names it more exactly, e.g. '--cluster'), else 'LAB_CLUSTER')."""
    if address:
        return address.strip(), "cluster"
    value = os.environ.get(ENV_VAR, "").strip()
    return (value or None), ENV_VAR


def _loopback_host(address: str) -> str | None:
    """The host of 'host:port' when it is a loopback address (the driver then joins from that address
    too: Ray would otherwise announce the machine's default address, which is not loopback)."""
    host = address.removeprefix("ray://").rpartition(":")[0] or address
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


def _reachable(address: str, timeout_s: float = 3.0) -> str | None:
    """Why nothing answers at 'host:port' (one phrase), or None. Checked before ray.init, which
    would otherwise retry for a minute. (A plain TCP connect: hand-written, it is three lines.)"""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None  # not host:port: let Ray say what it makes of it
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or type(exc).__name__})"


_CURRENT: "Cluster | None" = None


def connect(address: str | None = None, *, field: str | None = None) -> "Cluster":
    """The cluster at ``address`` (else $LAB_CLUSTER), joined once per process; ClusterError, one
    line naming --cluster / LAB_CLUSTER and what went wrong, when it can't be joined."""
    global _CURRENT
    if address is None and _CURRENT is not None and _CURRENT.connected():
        return _CURRENT  # joined before (--cluster, Dashboard(cluster=...)): that one
    address, source = requested(address)
    source = field or source
    if address is None:
        raise ClusterError(f"no cluster is joined: set {ENV_VAR}=auto (or host:port, ray://host:port) or pass "
                           "--cluster to measure on <node>/<device>")
    if _CURRENT is not None and _CURRENT.address == address and _CURRENT.connected():
        return _CURRENT
    try:
        import ray
    except ImportError:
        raise ClusterError(f"{source}={address!r}: Ray is not installed here: pip install -e '.[cluster]'") from None
    # auto: Ray's own discovery (RAY_ADDRESS, else the cluster `ray start` last began on this machine);
    # where RAY_ADDRESS names it, the driver can join from that address (a loopback one stays loopback).
    where = os.environ.get("RAY_ADDRESS", "").strip() or None if address == "auto" else address
    problem = None if where is None else _reachable(where)
    if problem:
        raise ClusterError(f"{source}={address!r}: the cluster can't be reached: {problem}")
    if ray.is_initialized():
        ray.shutdown()
    attempts = CLIENT_JOIN_ATTEMPTS if address.startswith("ray://") else 1
    for attempt in range(attempts):
        try:
            _init(ray, address, where)
            break
        except Exception as exc:  # noqa: BLE001 — ConnectionError, RuntimeError, ...: one line either way
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            try:  # a half-made connection (Ray Client's above all) would make every later join fail
                ray.shutdown()
            except Exception:  # noqa: BLE001 — nothing to undo
                pass
            if first.startswith(_CLIENT_SERVER_LOST) and attempt + 1 < attempts:
                print(f"{source}={address!r}: the cluster's client server lost this join ({first.rstrip(':')}); "
                      "joining again", file=sys.stderr)
                continue
            raise ClusterError(f"{source}={address!r}: the cluster can't be joined: {first}") from None
    _CURRENT = Cluster(address, source)
    return _CURRENT


# Ray 2.60's client server (the proxy behind ray://) starts one server process per joining driver.
# Now and then, on the first join after a fresh install, that process is gone a few milliseconds after
# it was started, with empty logs, and the join fails with this message and nothing after it; a
# second join to the same cluster is served. So a ray:// join that fails this way is tried once more.
_CLIENT_SERVER_LOST = "Initialization failure from server"
CLIENT_JOIN_ATTEMPTS = 2


def _init(ray, address: str, where: str | None) -> None:
    if address.startswith("ray://"):  # Ray Client (needs ray[client]): it takes fewer options
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    else:
        ray.init(address=address, _node_ip_address=_loopback_host(where or ""), log_to_driver=False,
                 logging_level="ERROR", configure_logging=False, include_dashboard=False)


def joined() -> "Cluster | None":
    """The cluster this process joined, or None (never joins; never imports Ray)."""
    return _CURRENT if _CURRENT is not None and _CURRENT.connected() else None


def current() -> "Cluster | None":
    """The cluster this process joined, else the one $LAB_CLUSTER names (joined now), else None
    (and Ray is not imported)."""
    if _CURRENT is not None and _CURRENT.connected():
        return _CURRENT
    return connect() if requested()[0] is not None else None


def disconnect() -> None:
    """Leave the cluster this process joined (if any)."""
    global _CURRENT
    if _CURRENT is not None:
        import ray

        ray.shutdown()
        _CURRENT = None


def _node_name(info: dict) -> str:
    for key in info.get("Resources", {}):
        if key.startswith(names.NODE_RESOURCE_PREFIX):
            return key[len(names.NODE_RESOURCE_PREFIX):]
    return info.get("NodeManagerAddress") or info["NodeID"][:12]


class Cluster:
    """A joined Ray cluster (see the module docstring). Made by ``connect``."""

    def __init__(self, address: str, source: str = ENV_VAR):
        import ray

        self.address, self.source = address, source
        self._ray = ray
        self._described: dict[str, dict] = {}  # node name -> describe_node()
        self._pending: dict[tuple, object] = {}  # (config_id, budget name) -> Ray object ref or error dict
        self._describe_task = ray.remote(num_cpus=0, max_retries=0)(tasks.describe_node)
        self._measure_task = ray.remote(num_cpus=0, max_retries=0)(tasks.measure_on_node)

    def __repr__(self) -> str:
        return f"Cluster({self.address!r})"

    def connected(self) -> bool:
        return self._ray.is_initialized()

    # --- nodes and devices ---------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        """The cluster's living nodes, named (the lab_node:<name> resource, else the IP address)."""
        try:
            infos = self._ray.nodes()
        except Exception as exc:  # noqa: BLE001 — the head is gone: one line
            raise ClusterError(f"{self.source}={self.address!r}: the connection to the cluster dropped: "
                               f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
        found = [Node(_node_name(i), i["NodeID"], i.get("NodeManagerAddress", ""), bool(i.get("Alive")),
                      dict(i.get("Resources") or {})) for i in infos]
        # A node that left and came back is listed twice by Ray: the living entry wins.
        found.sort(key=lambda n: (n.name, not n.alive))
        unique = {}
        for node in found:
            unique.setdefault(node.name, node)
        return [n for n in unique.values() if n.alive]

    def node(self, name: str) -> Node | None:
        """The living node ``name``, or None (it left, or was never there)."""
        return next((n for n in self.nodes() if n.name == name), None)

    def _pin(self, node: Node, *, measuring: bool) -> dict:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node.node_id, soft=False)}
        if measuring:
            if names.MEASURE_RESOURCE in node.resources:
                options["resources"] = {names.MEASURE_RESOURCE: 1}
            else:  # no measuring resource: all the node's CPUs keep other tasks off it meanwhile
                options["num_cpus"] = node.resources.get("CPU", 1)
        return options

    def describe(self, name: str) -> dict:
        """``python -m lab env`` of node ``name`` (lab.hardware.describe() run there), cached."""
        if name not in self._described:
            node = self.node(name)
            if node is None:
                raise ClusterError(f"node {name!r} is not in the cluster at {self.address} "
                                   f"(it has {', '.join(n.name for n in self.nodes()) or 'no nodes'})")
            info = self._ray.get(self._describe_task.options(**self._pin(node, measuring=False)).remote())
            info.update(node=name, node_address=node.address)
            self._described[name] = info
        return self._described[name]

    def describe_all(self) -> list[dict]:
        """Every living node's description, described in parallel."""
        todo = [n for n in self.nodes() if n.name not in self._described]
        refs = [self._describe_task.options(**self._pin(n, measuring=False)).remote() for n in todo]
        for node, info in zip(todo, self._ray.get(refs)):
            info.update(node=node.name, node_address=node.address)
            self._described[node.name] = info
        return [self._described[n.name] for n in self.nodes() if n.name in self._described]

    def devices(self) -> list[str]:
        """Every device of every living node, named '<node>/<device>'."""
        return [names.node_device(info["node"], dev["device"]) for info in self.describe_all()
                for dev in info["devices"]]

    def environment(self, device: str) -> dict:
        """The fingerprint of ``<node>/<device>``: the node's own, naming the node (so its env_id is its own)."""
        node, local = names.split_device(device)
        info = self.describe(node)
        dev = next((d for d in info["devices"] if d["device"] == local), None)
        env = dict(dev["environment"]) if dev is not None else self._absent_environment(info)
        env.update(node=node, node_address=info["node_address"])
        env["env_id"] = hardware.environment_id(env)
        return env

    @staticmethod
    def _absent_environment(info: dict) -> dict:
        """A node device the node lacks: its rows are error rows, fingerprinted with the node's CPU's."""
        env = dict(info["devices"][0]["environment"])
        env["device_name"] = "absent"
        return env

    # --- measuring -----------------------------------------------------------------------------
    def _job(self, config, budget, env: dict | None):
        node_name, local = names.split_device(config.device)
        node = self.node(node_name)
        if node is None:
            return {"error": f"node {node_name} is not in the cluster (it left, or was never there: the cluster "
                             f"has {', '.join(n.name for n in self.nodes()) or 'no nodes'}); a rerun measures it"}
        fields = {**config.to_dict(), "device": local}
        env = env if env is not None else self.environment(config.device)
        return self._measure_task.options(**self._pin(node, measuring=True)).remote(
            fields, budget, env=env, **shipping.model_payload(config.model))

    def submit(self, configs, budget, envs: dict | None = None) -> None:
        """Start measuring ``configs`` now (each queued on its node; nodes run in parallel);
        ``measure`` collects each one's result. envs: {device: environment} where known."""
        for config in configs:
            key = (config.config_id, budget.name)
            if key not in self._pending:
                self._pending[key] = self._job(config, budget, (envs or {}).get(config.device))

    def measure(self, config, budget, *, env: dict | None = None, **_) -> dict:
        """The measured columns of ``config`` on its node (submitted now unless ``submit`` did),
        or ``{"error": ...}`` naming the node when it left or the task failed."""
        key = (config.config_id, budget.name)
        job = self._pending.pop(key, None)
        if job is None:
            job = self._job(config, budget, env)
        if isinstance(job, dict):
            return job
        return self._wait(job, names.split_device(config.device)[0])

    def _wait(self, ref, node_name: str) -> dict:
        ray = self._ray
        while True:
            try:
                ready, _ = ray.wait([ref], timeout=_POLL_S)
                if ready:
                    return ray.get(ready[0])
                gone = self.node(node_name) is None
            except ray.exceptions.RayError as exc:
                kind = type(exc).__name__
                if kind in _NODE_LEFT:
                    return {"error": f"node {node_name} left the cluster before this configuration was measured "
                                     f"({kind}); a rerun measures it"}
                first = (str(exc).strip().splitlines() or [""])[0].split(". ")[0]
                return {"error": f"node {node_name} failed the measurement ({kind}): {first}"}
            if gone:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 — the node is gone; nothing left to cancel there
                    pass
                return {"error": f"node {node_name} left the cluster before this configuration was measured; "
                                 "a rerun measures it"}


def parse_devices(values, field: str = "device") -> list[str]:
    """Device names with 'all' expanded to every node's devices (joining the cluster only then)."""
    out = []
    for value in values:
        if value == names.ALL:
            out += connect().devices()
        else:
            names.split_device(value, field)  # FieldError, one line, for a bad name
            out.append(names.normalize(value))
    if not out:
        raise FieldError(field, values, "at least one device")
    return list(dict.fromkeys(out))
