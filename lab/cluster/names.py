"""Device names across a cluster: ``<node>/<device>`` (``gpu-box/cuda:0``, ``laptop/cpu``).

A plain device (``cpu``, ``cuda:0``, ``mps``) is this machine, as it always was; a name with a
node part is that node of the Ray cluster the lab joined (lab.cluster.session). This module
only reads names: it imports nothing heavy (never ray), so lab.config can use it.

    split_device("gpu-box/cuda")   # ('gpu-box', 'cuda:0')
    split_device("cpu")            # (None, 'cpu')
    node_device("laptop", "cpu")   # 'laptop/cpu'
"""
from __future__ import annotations

import re

from lab.errors import FieldError

# A node name: what `ray start --resources '{"lab_node:<name>": 1}'` gives it (or its IP address).
NODE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
LOCAL_DEVICE = r"cpu|mps|cuda(?::\d+)?"
_LOCAL = re.compile(rf"^(?:{LOCAL_DEVICE})$")
_NODE_DEVICE = re.compile(rf"^({NODE_NAME})/({LOCAL_DEVICE})$")
ALLOWED = "cpu, cuda, cuda:N or mps on this machine, or <node>/<device> on a cluster node (e.g. gpu-box/cuda:0)"
ALL = "all"  # every device of every node of the cluster (--device all, device = "all" in a study)
NODE_RESOURCE_PREFIX = "lab_node:"  # a node's name, as a custom Ray resource
MEASURE_RESOURCE = "lab_measure"    # 1 per node: one measurement at a time per machine, ever


def _normalize(device: str) -> str:
    return "cuda:0" if device == "cuda" else device


def is_device(name) -> bool:
    """Whether ``name`` is a device name this lab accepts (local or ``<node>/<device>``)."""
    return isinstance(name, str) and bool(_LOCAL.match(name) or _NODE_DEVICE.match(name))


def is_node_device(name) -> bool:
    """Whether ``name`` names a device on a cluster node (``<node>/<device>``)."""
    return isinstance(name, str) and _NODE_DEVICE.match(name) is not None


def split_device(name: str, field: str = "device") -> tuple[str | None, str]:
    """(node or None, the device on that machine, normalized); FieldError, one line, otherwise."""
    if not isinstance(name, str):
        raise FieldError(field, name, ALLOWED)
    if _LOCAL.match(name):
        return None, _normalize(name)
    match = _NODE_DEVICE.match(name)
    if match is None:
        raise FieldError(field, name, ALLOWED)
    return match.group(1), _normalize(match.group(2))


def normalize(name: str) -> str:
    """'cuda' -> 'cuda:0', 'box/cuda' -> 'box/cuda:0'; anything else unchanged (validation is split_device's)."""
    if is_node_device(name):
        node, device = split_device(name)
        return node_device(node, device)
    return _normalize(name) if isinstance(name, str) else name


def node_device(node: str, device: str) -> str:
    """The name of ``device`` on ``node``: 'laptop/cpu'."""
    return f"{node}/{_normalize(device)}"
