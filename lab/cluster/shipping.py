"""How a configuration's model travels to a node: a built-in by name, anything else by value.

A built-in goes by name: the node has the lab installed, and the model fingerprint (weights and
code, lab.prepare.model_fingerprint) sent along proves the node's copy is this machine's. A model
the user registered (a built-in's name registered again included) goes by value: its registry
entry, cloudpickled by Ray, with the user's own module pickled by value too (the node has the lab,
not the user's files), and its fingerprint, under which the node keeps one copy of it
(lab.cluster.tasks._register).
"""
from __future__ import annotations

import sys

from lab import prepare
from lab.models import registry


def _by_value_modules(spec) -> None:
    import ray.cloudpickle as cloudpickle

    for fn in (spec.build, spec.make_input, spec.evaluate, spec.train_data):
        module = sys.modules.get(getattr(fn, "__module__", None) or "")
        name = getattr(module, "__name__", "")
        if module is not None and name != "__main__" and not name.startswith(("lab.", "torch", "builtins")):
            cloudpickle.register_pickle_by_value(module)


def model_payload(name: str) -> dict:
    """``{"model_by_value": spec or None, "fingerprint": str}``: the keyword arguments of
    lab.cluster.tasks.measure_on_node that carry model ``name``."""
    spec = registry.get(name)
    builtin = any(b.name == spec.name and b.build is spec.build for b in registry.builtin_specs())
    if builtin:
        return {"model_by_value": None, "fingerprint": prepare.model_fingerprint(name)}
    _by_value_modules(spec)
    # The fingerprint travels with a by-value model too: not to check the node's copy (it is this
    # one), but as the key under which the node keeps one spec object for every configuration of it.
    return {"model_by_value": spec, "fingerprint": prepare.model_fingerprint(name)}
