"""Run the two-node tests inside a private network namespace: one with only a loopback interface.

Ray 2.60's gcs_server and raylet listen on every interface (``*:PORT``, seen with ``ss -ltnp``)
whatever ``--node-ip-address`` says, and no option of ``ray start`` changes that. A test must not open
a port beyond loopback, so where Linux lets us (``unshare --user --net``: root, or unprivileged user
namespaces), the two-node tests run in a namespace whose only interface is ``lo``; nothing in it can
be reached from outside the machine, whatever it binds. Where it can't, they run here as before.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess

INSIDE = "LAB_TEST_NETNS"   # set to "inside" in the namespace's environment


def inside() -> bool:
    return os.environ.get(INSIDE) == "inside"


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Can this machine give a process a network namespace of its own with loopback up?"""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    try:
        done = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "sh", "-c", "ip link set lo up"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def command(argv: list[str]) -> list[str]:
    """``argv`` run in a fresh user + network namespace, with loopback up and INSIDE set."""
    script = 'ip link set lo up && exec env "$0"=inside "$@"'
    return ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", script, INSIDE, *argv]
