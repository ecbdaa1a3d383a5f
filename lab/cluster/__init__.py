"""The same lab across a Ray cluster: devices named ``<node>/<device>``, measured on that node.

Embedded by default: with no cluster asked for (``LAB_CLUSTER`` unset, no ``--cluster``, no
``cluster =`` in a study, no ``lab.Dashboard(cluster=...)``), nothing here runs and Ray is never
imported. Ray is an optional extra: ``pip install -e '.[cluster]'``.

    names.py     <node>/<device> names (no Ray: lab.config reads them)
    session.py   joining a cluster (LAB_CLUSTER=auto | host:port | ray://host:port), its nodes,
                 each node's environment, and measuring a configuration pinned to its node
    tasks.py     what runs on a node, as Ray tasks: describe the machine, measure one config
    shipping.py  how the model travels: a built-in by name (and fingerprint), a registered one by value
    compare.py   the same grid on every node: a comparison table and figure
    local.py     start and stop a cluster of loopback nodes on this machine (tests, benchmark)

Importing this package imports neither Ray nor torch.
"""
