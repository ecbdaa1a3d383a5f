"""A Ray cluster of loopback nodes on this machine, started and stopped with ``ray start`` / ``ray stop``:
what the tests and benchmarks/cluster.py measure through.

    with LocalCluster([("head", "127.0.0.2"), ("second", "127.0.0.3")]) as cluster:
        cluster.address        # '127.0.0.2:PORT': LAB_CLUSTER / --cluster
        cluster.kill("second") # SIGKILL that node's processes (a node that leaves mid-sweep)

Each node gets ``--node-ip-address`` (127.0.0.1 is rewritten by Ray into the machine's default
address, which is not loopback; other 127.x addresses are kept), its name and the measuring
resource as custom resources, few CPUs, a small object store and a private ``--temp-dir``, so it
never meets another Ray on this machine. Ray 2.60's GCS and raylets still listen on every
interface (observed: ``*:PORT``); the cluster only ever talks over these loopback addresses.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.cluster import names

# Faster detection of a node that died. The GCS declares a node dead once health_check_failure_threshold
# checks in a row fail, one every health_check_period_ms, each failing after health_check_timeout_ms, the
# first after health_check_initial_delay_ms; these override Ray's defaults for the four (set in Ray's
# src/ray/common/ray_config_def.h) and are read by the GCS and raylets from these RAY_ variables.
FAST_HEALTH_CHECK = {"RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "500",
                     "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3"}
_OBJECT_STORE_BYTES = 80 * 2**20  # Ray's minimum is 75 MiB; rows are small


def _ray_exe() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalCluster:
    """nodes: [(name, loopback address)], the first is the head; num_cpus per node (Ray workers)."""

    def __init__(self, nodes=(("head", "127.0.0.2"),), *, num_cpus: int = 1, temp_dir: str | None = None):
        self.nodes = list(nodes)
        self.num_cpus = num_cpus
        # Ray's socket paths must stay short (AF_UNIX: 107 bytes): a short private directory.
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="labray-", dir="/tmp")
        self.port: int | None = None
        self.client_port: int | None = None  # the head's Ray Client server (ray://), where ray[client] is installed
        self.env = {**os.environ, **FAST_HEALTH_CHECK, "RAY_USAGE_STATS_ENABLED": "0"}

    @property
    def address(self) -> str:
        return f"{self.nodes[0][1]}:{self.port}"

    @property
    def client_address(self) -> str:
        """The head's Ray Client address (``ray://host:port``)."""
        return f"ray://{self.nodes[0][1]}:{self.client_port}"

    def _start(self, name: str, ip: str, head: bool) -> None:
        resources = json.dumps({f"{names.NODE_RESOURCE_PREFIX}{name}": 1, names.MEASURE_RESOURCE: 1})
        cmd = [_ray_exe(), "start", f"--node-ip-address={ip}", f"--num-cpus={self.num_cpus}",
               f"--resources={resources}", f"--temp-dir={self.temp_dir}",
               f"--object-store-memory={_OBJECT_STORE_BYTES}", "--disable-usage-stats"]
        cmd += (["--head", f"--port={self.port}", "--include-dashboard=false",
                 f"--ray-client-server-port={self.client_port}"] if head else [f"--address={self.address}"])
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"ray start for node {name} ({ip}) failed: {' | '.join(tail)}")

    def start(self) -> "LocalCluster":
        self.port = free_port(self.nodes[0][1])
        self.client_port = free_port(self.nodes[0][1])
        for i, (name, ip) in enumerate(self.nodes):
            self._start(name, ip, head=i == 0)
        self._wait_for_client_server()
        return self

    def _wait_for_client_server(self, timeout_s: float = 60.0) -> None:
        """`ray start` returns before the head's Ray Client server listens (in a fresh venv it first
        compiles its imports): wait for its port, where ray[client] is installed to serve it."""
        if importlib.util.find_spec("grpc") is None:  # Ray Client's transport: without it no client server
            return
        host, deadline = self.nodes[0][1], time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, self.client_port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"the Ray Client server did not listen on {host}:{self.client_port} within {timeout_s:.0f} s")

    def restart(self, name: str) -> None:
        """Start node ``name`` again (after ``kill``): it joins the head under the same name and address."""
        ip = dict(self.nodes)[name]
        self._start(name, ip, head=ip == self.nodes[0][1])

    def _pids(self, ip: str | None = None) -> list[int]:
        """This cluster's processes: those naming its private temp dir (of node ``ip`` only, if
        given), and their children (Ray's agents and workers rename themselves)."""
        import psutil  # a dependency of Ray

        found, me = set(), {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.info["pid"] in me:  # this process (a command line may name the dir too)
                continue
            line = " ".join(proc.info["cmdline"] or [])
            if self.temp_dir not in line:
                continue
            if ip is not None and f"node_ip_address={ip}" not in line and f"node-ip-address={ip}" not in line:
                continue
            found.add(proc.info["pid"])
            try:
                found.update(child.pid for child in proc.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return sorted(found - me)

    def kill(self, name: str) -> None:
        """SIGKILL every process of node ``name`` (its raylet, agents, workers, log monitor)."""
        for pid in self._pids(dict(self.nodes)[name]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Stop this cluster's processes (and only them) and remove its temp dir."""
        from lab.cluster import session

        session.disconnect()
        import psutil

        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 5
            while pids and time.time() < deadline and any(psutil.pid_exists(p) for p in pids):
                time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
