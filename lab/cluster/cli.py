"""What ``python -m lab`` does with a cluster: ``--cluster``, ``env`` listing every node, ``--device all``.

lab/cli.py calls these (a few lines there); nothing here imports Ray unless a cluster is asked for.
"""
from __future__ import annotations

import argparse
import json

from lab.cluster import names
from lab.errors import FieldError

HELP = ("join a Ray cluster and measure on its nodes: auto, host:port or ray://host:port "
        "(default: $LAB_CLUSTER; unset: this machine only, Ray is not used)")


def add_cluster_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", default=None, metavar="ADDRESS", help=HELP)


def asked(args) -> bool:
    """Whether this command was asked to join a cluster (--cluster or LAB_CLUSTER)."""
    from lab.cluster import session

    return session.requested(getattr(args, "cluster", None))[0] is not None


def join(args):
    """The cluster --cluster / $LAB_CLUSTER names, joined; None when none is asked for.
    ClusterError (a ValueError: one line, exit status 2) when it can't be joined."""
    if not asked(args):
        return None
    from lab.cluster import session

    return session.connect(getattr(args, "cluster", None), field="--cluster" if args.cluster else None)


def devices(values: list[str] | None) -> list[str] | None:
    """``--device`` values with 'all' expanded to every node's devices (joining the cluster)."""
    if values is None:
        return None
    if names.ALL in values:
        from lab.cluster import session

        return session.parse_devices(values)
    return values


def wants_comparison(values: list[str] | None) -> bool:
    return bool(values) and names.ALL in values


def cmd_env(cluster, args, out) -> int:
    """Every node: its devices (name, memory, cores), CPU model, energy source, as ``env`` shows this
    machine. ``--ceilings`` is refused (FieldError): they are measured and stored on this machine, for
    its own devices; nothing measures or stores them on a node yet."""
    from lab.cli_output import print_device

    if getattr(args, "ceilings", False):
        raise FieldError("--ceilings", True, "with --cluster: ceilings are measured on this machine only "
                         "(run `python -m lab env --ceilings` on each node)")
    infos = cluster.describe_all()
    if args.format == "json":
        print(json.dumps({"cluster": cluster.address, "nodes": infos}, indent=2, default=str), file=out)
        return 0
    print(f"cluster          {cluster.address} ({len(infos)} node{'s' * (len(infos) != 1)})", file=out)
    for info in infos:
        print(f"\nnode {info['node']} ({info['node_address']}): {info['cpu_model']}, torch {info['torch_version']}, "
              f"lab {info['lab_version']}", file=out)
        for dev in info["devices"]:
            print_device(dev, out, label=names.node_device(info["node"], dev["device"]), indent="  ")
    return 0
