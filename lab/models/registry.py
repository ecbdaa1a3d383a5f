"""The model registry: built-in models and the user's own, by name.

A model is a ModelSpec: how to build it (trained weights included), how to make
an input batch of any size, and how to score it on held-out data. Everything
else in the lab (knobs, store, plots) works from these three functions, which
is all "bring your own model" needs (ModelSpec itself lives in lab.models.spec)::

    lab.register_model("my-net", build=lambda: net, make_input=lambda n: torch.randn(n, 32))
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from lab.models.spec import ModelSpec


_REGISTRY: dict[str, ModelSpec] = {}
_BUILTINS_LOADED = False


def _width_knob(name: str) -> Callable[[float], nn.Module]:
    def build_width(width: float) -> nn.Module:
        from lab.models import train  # looked up per call, so tests may patch train's cache and fit

        return train.build_width(name, width)
    return build_width


def builtin_specs() -> list[ModelSpec]:
    """The built-in models' specs, each trained family with its width knob (train.build_width).

    Dependencies point one way: the model modules know nothing of this registry
    nor of train; this module imports them (lazily: on the first names() or get())."""
    from lab.models import digits, minilm, mnist1d, train

    return [dataclasses.replace(spec, build_width=_width_knob(spec.name)) if spec.name in train.RECIPES else spec
            for spec in (*digits.SPECS, *mnist1d.SPECS, *minilm.SPECS)]


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        for spec in builtin_specs():
            register(spec)


def register(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def register_model(name: str, build: Callable[[], nn.Module] | nn.Module, make_input: Callable[[int], torch.Tensor],
                   evaluate: Callable[[nn.Module, torch.device, torch.dtype], float] | None = None, *,
                   train_data: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None,
                   task: str = "custom", metric: str = "accuracy", description: str = "") -> ModelSpec:
    """Bring your own model: after this, ``Config(model=name, ...)`` works like a built-in.

    ``build`` may be an nn.Module (it is deep-copied for each configuration, so
    the lab's transforms never change your object) or a function returning one.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} is not allowed: a non-empty string")
    if isinstance(build, nn.Module):
        module = build

        def build():  # noqa: F811 — a fresh copy per configuration
            import copy
            return copy.deepcopy(module)
    if not callable(build) or not callable(make_input):
        raise ValueError("build and make_input must be callables (build may also be an nn.Module)")
    return register(ModelSpec(name=name, build=build, make_input=make_input, evaluate=evaluate,
                              train_data=train_data, task=task, metric=metric, description=description))


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"model={name!r} is not allowed: one of {', '.join(names())}") from None


def import_models(spec: str) -> list[str]:
    """Run the user's code that registers models, before anything looks a model up.

    ``spec`` is a module name (``my_models``, importable from the current directory
    or sys.path), a path to a ``.py`` file, or either followed by ``:function`` to
    call after importing (``setup = "my_models:register"`` in a study file). Returns
    the names of the models it registered. Raises ValueError, one line naming
    ``spec``, when it cannot be imported or the function is missing."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    target, _, function = spec.partition(":")
    _load_builtins()
    before = set(_REGISTRY)
    try:
        if target.endswith(".py"):
            path = Path(target).expanduser().resolve()
            if not path.is_file():
                raise ValueError(f"import={spec!r} is not allowed: no such file {path}")
            name = f"lab_user_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # `python -m lab` users expect their directory importable
            module = importlib.import_module(target)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 — the user's code: any error becomes one line naming it
        raise ValueError(f"import={spec!r} failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if function:
        setup = getattr(module, function, None)
        if not callable(setup):
            raise ValueError(f"import={spec!r} is not allowed: {target} has no function {function!r}")
        try:
            setup()
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"import={spec!r} failed in {function}(): {type(exc).__name__}: {exc}"
                             .splitlines()[0]) from exc
    return sorted(set(_REGISTRY) - before)
