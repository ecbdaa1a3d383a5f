"""The model registry: built-in models and the user's own, by name.

A model is a ModelSpec: how to build it (trained weights included), how to make
an input batch of any size, and how to score it on held-out data. Everything
else in the lab (knobs, store, plots) works from these three functions, which
is all "bring your own model" needs (ModelSpec itself lives in lab.models.spec)::

    lab.register_model("my-net", build=lambda: net, make_input=lambda n: torch.randn(n, 32))

Every front end can load the user's registering code first: ``--import MODULE``
(or ``PATH.py``) on each ``python -m lab`` command and ``setup = "module:function"``
in a study file both call ``import_models``.
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
    if _RECORDING is not None:
        _RECORDING.append(spec.name)
    return spec


_RECORDING: list[str] | None = None  # names registered while import_models runs the user's code

# How the lab calls each of a user's functions: (positional arguments it passes, the call as documented).
_CALLS = {"build": (0, "build()"), "make_input": (1, "make_input(batch_size)"),
          "evaluate": (3, "evaluate(model, device, dtype)"), "train_data": (0, "train_data()")}


def _shown(fn) -> str:
    """A callable as a message shows it: ``<function my_eval>`` (no memory address)."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    kind = "class" if isinstance(fn, type) else "function"
    return f"<{kind} {name}>"


def _takes(signature) -> str:
    """What a signature accepts, in words: 'it takes 1 positional argument'."""
    parameters = signature.parameters.values()
    needed = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if needed:
        return f"it needs the keyword argument {needed[0]!r}"
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    count = f"{required}" if required == len(positional) else f"{required} to {len(positional)}"
    return f"it takes {count} positional argument{'' if count == '1' else 's'}"


def check_callable(field: str, fn) -> None:
    """ValueError, one line naming ``field``, unless the lab can call ``fn`` as ``_CALLS[field]`` says.

    Checked at registration, so a wrong signature fails at once rather than after minutes of
    timing. A callable whose signature Python cannot read (some builtins) is not checked."""
    import inspect

    count, call = _CALLS[field]
    if not callable(fn):
        raise ValueError(f"{field}={fn!r} is not allowed: a function the lab calls as {call} "
                         "(build, make_input, evaluate and train_data are callables)")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*[None] * count)  # the lab's call, with placeholders
    except TypeError:
        raise ValueError(f"{field}={_shown(fn)} is not allowed: {_takes(signature)}; the lab calls {call}") from None


def register_model(name: str, build: Callable[[], nn.Module] | nn.Module, make_input: Callable[[int], torch.Tensor],
                   evaluate: Callable[[nn.Module, torch.device, torch.dtype], float] | None = None, *,
                   train_data: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None,
                   task: str = "custom", metric: str = "accuracy", description: str = "",
                   prune_ignore: tuple[str, ...] | list[str] = ()) -> ModelSpec:
    """Bring your own model: after this, ``Config(model=name, ...)`` works like a built-in.

    name:        the model's name in configs, flags, rows and figures (registering a name again
                 replaces it; stored rows of the old model are not reused: see model_fingerprint)
    build:       an nn.Module (deep-copied for each configuration, so the lab's transforms never
                 change your object) or ``build() -> nn.Module``, trained weights loaded, on the CPU
    make_input:  ``make_input(batch_size: int) -> Tensor`` (or a tuple of tensors: the forward's
                 positional arguments), on the CPU, float32 where the input is floating point
    evaluate:    ``evaluate(model, device: torch.device, dtype: torch.dtype) -> float``: the quality
                 metric on held-out data, higher is better. ``model`` is the transformed model
                 already on ``device``; move your data there and cast floating inputs to ``dtype``
                 (bf16/fp16 schemes take inputs of that precision). None: rows have no accuracy
    train_data:  ``train_data() -> (X, y)``: training inputs and integer class labels, on the CPU;
                 used by recovery fine-tuning (cross-entropy) and static-quantization calibration.
                 None: those knobs say the model has none
    task, metric, description: shown by ``python -m lab models``; ``metric`` names what evaluate returns
    prune_ignore: module names or globs (``model.named_modules()`` names) that pruning keeps whole,
                 e.g. ``("head", "encoder.*.attn")``; a name that matches nothing is an error when pruning

    Each function's signature is checked here: one that the lab could not call as above raises
    ValueError, one line naming the argument, e.g. ``evaluate=<function f> is not allowed: it takes
    1 positional argument; the lab calls evaluate(model, device, dtype)``.
    """
    if not isinstance(name, str) or not name or name != name.strip() or "," in name:
        raise ValueError(f"name={name!r} is not allowed: a non-empty string without commas or surrounding spaces")
    if isinstance(build, nn.Module):
        module = build

        def build():  # noqa: F811 — a fresh copy per configuration
            import copy
            return copy.deepcopy(module)
    elif not callable(build):
        raise ValueError(f"build={build!r} is not allowed: an nn.Module or a function the lab calls as build()")
    else:
        check_callable("build", build)
    check_callable("make_input", make_input)
    if evaluate is not None:
        check_callable("evaluate", evaluate)
    if train_data is not None:
        check_callable("train_data", train_data)
    if isinstance(prune_ignore, str) or not all(isinstance(n, str) and n for n in prune_ignore):
        raise ValueError(f"prune_ignore={prune_ignore!r} is not allowed: a list of module names or globs")
    return register(ModelSpec(name=name, build=build, make_input=make_input, evaluate=evaluate,
                              train_data=train_data, task=task, metric=metric, description=description,
                              prune_ignore=tuple(prune_ignore)))


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"model={name!r} is not allowed: one of {', '.join(names())}") from None


def import_models(spec: str, *, base_dir=None, field: str = "import") -> list[str]:
    """Run the user's code that registers models, before anything looks a model up.

    ``spec`` is a module name (``my_models``, importable from ``base_dir``, the current
    directory or sys.path), a path to a ``.py`` file (relative to ``base_dir`` when given,
    else to the current directory), or either followed by ``:function`` to call after
    importing (``setup = "my_models:register"`` in a study file). Importing again runs the
    code again (a module is reloaded; a file is read anew), so an edited file registers
    its new version. Returns the names the code registered, in order, without repeats.
    Raises ValueError, one line naming ``field`` and ``spec``, when it cannot be imported,
    the function is missing, or the code raised.
    """
    from pathlib import Path

    global _RECORDING
    text = spec.strip() if isinstance(spec, str) else ""
    if not text:
        raise ValueError(f"{field}={spec!r} is not allowed: a module name or a path to a .py file, "
                         "optionally followed by :function")
    target, _, function = text.rpartition(":")
    if not function.isidentifier() or not target:  # no ':function' part (or a bare ':')
        target, function = text, ""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    _load_builtins()
    recorded: list[str] = []
    outer, _RECORDING = _RECORDING, recorded
    try:
        module = _import_file(field, spec, base / Path(target).expanduser()) if target.endswith(".py") \
            else _import_module(field, spec, target, base)
        if function:
            setup = getattr(module, function, None)
            if not callable(setup):
                raise ValueError(f"{field}={spec!r} is not allowed: {target} has no function {function!r}")
            try:
                setup()
            except Exception as exc:  # noqa: BLE001 — the user's code: any error becomes one line naming it
                raise ValueError(_one_line(f"{field}={spec!r} failed in {function}(): {type(exc).__name__}: {exc}")) \
                    from exc
    finally:
        _RECORDING = outer
        if outer is not None:
            outer.extend(recorded)
    return list(dict.fromkeys(recorded))


def _one_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _import_file(field: str, spec: str, path):
    """Execute the .py file at ``path`` as a fresh module ``lab_user_<stem>`` (read anew each time: no
    stale bytecode, no __pycache__ written beside the user's file)."""
    import sys
    import types

    path = path.resolve()
    if not path.is_file():
        raise ValueError(f"{field}={spec!r} is not allowed: no such file {path}")
    if str(path.parent) not in sys.path:  # as `python my_models.py` would: its sibling modules importable
        sys.path.insert(0, str(path.parent))
    name = f"lab_user_{path.stem}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses, pickling and inspect look the module up by name
    try:
        code = compile(path.read_bytes(), str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 — the user's own model code, asked for by name
    except Exception as exc:  # noqa: BLE001 — SyntaxError, ImportError, their own errors: one line
        sys.modules.pop(name, None)
        raise ValueError(_one_line(f"{field}={spec!r} failed: {type(exc).__name__}: {exc}")) from exc
    return module


def _import_module(field: str, spec: str, target: str, base):
    """Import (or, when already imported, reload) module ``target``, searching ``base`` first."""
    import importlib
    import sys

    directory = str(base.resolve())
    if directory not in sys.path:
        # Stays on the path: the user's build() may import its sibling modules later.
        sys.path.insert(0, directory)
    try:
        if target in sys.modules:
            return importlib.reload(sys.modules[target])
        return importlib.import_module(target)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(_one_line(f"{field}={spec!r} failed: {type(exc).__name__}: {exc}")) from exc
