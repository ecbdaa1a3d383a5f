"""Hashes of code and values that are stable across processes: what a model's identity
(lab.prepare.model_fingerprint) and a FLOP count's key (lab.measure.flops.structure_key) are made of.

Written here, not taken from a library: ``hash()`` is salted per process, pickling a function
pickles its name, not its code, and ``repr`` of a nested code object carries a memory address.
"""
from __future__ import annotations

import functools
import types

import torch


def hash_tensor(digest, tensor: torch.Tensor) -> None:
    t = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d buffers (BatchNorm's count) as 1-d
    digest.update(str(t.dtype).encode())
    digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def hash_value(digest, value, seen: set[int], depth: int) -> None:
    """A default argument, closure cell or constant: what it holds where that is cheap and stable
    across processes (numbers, text, tensors, functions); otherwise only its type."""
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None))):
        digest.update(repr(value).encode())
    elif isinstance(value, (tuple, list)):
        for item in value:
            hash_value(digest, item, seen, depth)
    elif isinstance(value, frozenset):  # `x in {"a", "b"}`: its repr order varies with the hash seed
        digest.update(repr(sorted(map(repr, value))).encode())
    elif isinstance(value, torch.Tensor):
        hash_tensor(digest, value)
    elif isinstance(value, types.CodeType):
        hash_code(digest, value, seen, depth)
    elif callable(value) and not isinstance(value, torch.nn.Module):
        hash_callable(digest, value, seen, depth)
    else:
        digest.update(type(value).__qualname__.encode())


def hash_code(digest, code: types.CodeType, seen: set[int], depth: int) -> None:
    # Bytecode, the names it looks up and its constants; nested functions (lambdas, generator
    # expressions) recursively, not by repr(), which carries a memory address.
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        hash_value(digest, const, seen, depth)


def hash_callable(digest, fn, seen: set[int], depth: int = 0) -> None:
    """The code of a user's function, stable across processes: its bytecode and constants, its
    default arguments and closure values, and, followed a few levels deep, the functions of its own
    module that it calls (a changed helper is a changed evaluation). Library code is not followed:
    its version is in the environment."""
    if fn is None or id(fn) in seen or depth > 4:
        return
    seen.add(id(fn))
    if isinstance(fn, functools.partial):
        hash_callable(digest, fn.func, seen, depth + 1)
        hash_value(digest, (fn.args, tuple(sorted(fn.keywords.items()))), seen, depth + 1)
        return
    fn = getattr(fn, "__func__", fn)  # a bound method: its function
    code = getattr(fn, "__code__", None)
    if code is None:  # a builtin, a class or a callable object: its name only
        digest.update(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}".encode())
        return
    hash_code(digest, code, seen, depth)
    hash_value(digest, (fn.__defaults__ or (), tuple(sorted((fn.__kwdefaults__ or {}).items()))), seen, depth + 1)
    for cell in fn.__closure__ or ():
        try:
            hash_value(digest, cell.cell_contents, seen, depth + 1)
        except ValueError:  # an empty cell (a name bound later)
            pass
    module = getattr(fn, "__module__", None)
    for name in code.co_names:
        helper = fn.__globals__.get(name)
        if isinstance(helper, types.FunctionType) and helper.__module__ == module:
            hash_callable(digest, helper, seen, depth + 1)
