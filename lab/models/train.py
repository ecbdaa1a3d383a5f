"""Reproduce the shipped weights: ``python -m lab.models.train [NAME ...]``.

Training is deterministic on one machine (fixed seeds, one thread,
deterministic algorithms); another CPU may round differently, so the sha256 can
differ there while the accuracy stays within a fraction of a point. Writes
data/models/NAME.pt and NAME.json (sha256, accuracy, recipe).

The same recipes make the other widths of a model on demand
(``build_width``): trained once, then cached under data/cache/models/ as
NAME-wWIDTH.pt with its manifest and reloaded, hash-checked, next time.

``python -m lab.models.train minilm`` trains nothing: it records the sha256 of
the pretrained weights the optional package ships (see lab.models.minilm).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from lab.models import digits, mnist1d, weights
from lab.models.spec import ModelSpec

# Where build_width keeps the models it trained (git-ignored; tests point it elsewhere).
CACHE_DIR = weights.WEIGHTS_DIR.parent / "cache" / "models"

# model: class taking width=; epochs, batch_size, lr (Adam), seed: as for digits-mlp.
# Optional: weight_decay (AdamW instead of Adam), schedule="cosine" with warmup_epochs.
RECIPES: dict[str, dict] = {
    "digits-mlp": {"model": digits.DigitsMLP, "epochs": 20, "batch_size": 64, "lr": 1e-3, "seed": 0},
    "digits-cnn": {"model": digits.DigitsCNN, "epochs": 12, "batch_size": 64, "lr": 3e-3, "seed": 0,
                   "schedule": "cosine"},
    "mnist1d-cnn": {"model": mnist1d.Mnist1dCNN, "epochs": 30, "batch_size": 64, "lr": 3e-3, "seed": 0,
                    "schedule": "cosine"},
    "mnist1d-transformer": {"model": mnist1d.Mnist1dTransformer, "epochs": 60, "batch_size": 64, "lr": 2e-3,
                            "seed": 0, "weight_decay": 0.01, "schedule": "cosine", "warmup_epochs": 2},
}
WIDTH_RANGE = (0.25, 2.0)
# Models on generated data record the data's sha256 too: a changed generator then shows as a data change.
DATA_FINGERPRINTS = {"mnist1d-cnn": mnist1d.data_sha256, "mnist1d-transformer": mnist1d.data_sha256}


def _spec(name: str) -> ModelSpec:
    """The built-in spec of a trainable model, from its own module (train sits below the registry)."""
    return next(spec for spec in (*digits.SPECS, *mnist1d.SPECS) if spec.name == name)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _recipe_record(recipe: dict) -> dict:
    """The recipe as JSON (the model class by name): written to manifests, compared for the cache."""
    return {k: (v.__name__ if isinstance(v, type) else v) for k, v in recipe.items()}


@contextlib.contextmanager
def training_mode(threads: int = 1, *, deterministic: bool = False, seed: int | None = None):
    """Train inside: ``threads`` torch threads, deterministic algorithms when ``deterministic``, gradients
    on (even inside the runner's inference mode), the global RNG forked (seeded with ``seed`` inside when
    given) and restored afterwards; every setting put back on exit. The shipped recipes use
    ``training_mode(1, deterministic=True)``; lab.train.loop its config's threads and seed."""
    threads_before, deterministic_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        if deterministic:  # only what was changed: resetting it would also drop a caller's warn_only
            torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)


def _schedule(recipe: dict, steps_per_epoch: int) -> Callable[[int], float] | None:
    """LR multiplier per optimizer step: linear warm-up, then cosine decay to 0."""
    if recipe.get("schedule") != "cosine":
        return None
    total = recipe["epochs"] * steps_per_epoch
    warmup = recipe.get("warmup_epochs", 0) * steps_per_epoch
    return lambda step: min(1.0, (step + 1) / warmup) if step < warmup else \
        0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              batch_size: int, order: torch.Generator, *, loss_fn: Callable | None = None,
              scheduler=None, autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
              should_stop: Callable[[], bool] | None = None) -> tuple[float, int]:
    """One pass over (x, y) in the random order ``order`` draws, ``batch_size`` samples per step.

    Returns (summed loss, samples seen). ``autocast()`` (e.g. bf16 autocast) wraps each forward
    pass and loss; ``should_stop()`` is asked before each step and ends the pass early when True.
    The one training step both the shipped recipes (``fit``) and lab.train use.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    # Summed on the loss's device and read once at the end: loss.item() every step would wait for the
    # device (a sync) inside the timed training. float32: a half-precision loss would overflow the sum.
    total, seen = None, 0
    for idx in torch.randperm(len(x), generator=order).split(batch_size):
        if should_stop is not None and should_stop():
            break
        optimizer.zero_grad()
        with (autocast() if autocast is not None else contextlib.nullcontext()):
            loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step = loss.detach().float() * len(idx)
        total = step if total is None else total + step
        seen += len(idx)
    return (0.0 if total is None else total.item()), seen


def fit(name: str, width: float = 1.0, epochs: int | None = None,
        log: Callable[[str], None] | None = _log) -> tuple[nn.Module, dict]:
    """Train model ``name`` at ``width`` by its recipe; returns (model in eval mode, manifest info).

    The quality is measured with the spec's own ``evaluate``, so the recorded figure is
    exactly what the lab reports for the unmodified model. ``log`` gets a line per epoch.
    """
    recipe = dict(RECIPES[name])
    if epochs is not None:
        recipe["epochs"] = epochs
    spec = _spec(name)
    label = name if width == 1.0 else f"{name} width {width:g}"
    start = time.perf_counter()
    with training_mode(1, deterministic=True, seed=recipe["seed"]):
        # Cloned: data cached under the runner's inference mode cannot be saved for backward.
        x_train, y_train = (t.clone() for t in spec.train_data())
        model = recipe["model"](width=width)
        if recipe.get("weight_decay"):
            optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
        batches = math.ceil(len(x_train) / recipe["batch_size"])
        multiplier = _schedule(recipe, batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier) if multiplier else None
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(recipe["seed"])
        for epoch in range(1, recipe["epochs"] + 1):
            model.train()
            total, _ = one_epoch(model, optimizer, x_train, y_train, recipe["batch_size"], order,
                                 loss_fn=loss_fn, scheduler=scheduler)
            if log is not None:
                log(f"{label}: epoch {epoch}/{recipe['epochs']}  loss {total / len(x_train):.4f}  "
                    f"({time.perf_counter() - start:.0f} s)")
        model.eval()
        quality = spec.evaluate(model, torch.device("cpu"), torch.float32)
    from lab.hardware import cpu_model

    info = {spec.metric: round(quality, 6), "metric": spec.metric, "width": width,
            "params": sum(p.numel() for p in model.parameters()),
            "torch_version": torch.__version__,
            "cpu_model": cpu_model(), "recipe": _recipe_record(recipe),
            "made_by": f"python -m lab.models.train {name}" if width == 1.0 else f"build_width({name!r}, {width:g})"}
    if name in DATA_FINGERPRINTS:
        info["data_sha256"] = DATA_FINGERPRINTS[name]()
    return model, info


def train(name: str, weights_dir: Path = weights.WEIGHTS_DIR, epochs: int | None = None,
          log: Callable[[str], None] | None = _log) -> dict:
    """Train model ``name`` (width 1) by its recipe and save it; returns the manifest written."""
    start = time.perf_counter()
    model, info = fit(name, epochs=epochs, log=log)
    meta = weights.save(name, model.state_dict(), info, weights_dir)
    # Returned, not written: a manifest that changed with the clock would not be reproducible.
    return {**meta, "train_s": round(time.perf_counter() - start, 1)}


def width_key(name: str, width: float) -> str:
    """The cache's file stem for ``name`` at ``width``: e.g. digits-cnn-w0.5."""
    return f"{name}-w{width:g}"


def build_width(name: str, width: float, cache_dir: Path | None = None) -> nn.Module:
    """A trained ``name`` of width ``width`` (0.25-2), in eval mode.

    Width 1 is the shipped model. Any other width is trained by the shipped
    recipe the first time (a line per epoch on stderr) and cached in
    ``cache_dir`` (default CACHE_DIR); later calls reload it after checking its
    sha256. A cached file that fails the check, or was made by another recipe,
    is trained again.
    """
    if name not in RECIPES:
        raise ValueError(f"model={name!r} has no width multiplier: one of {', '.join(RECIPES)} has")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]:
        raise ValueError(f"width={width!r} is not allowed: a multiplier from {WIDTH_RANGE[0]} to {WIDTH_RANGE[1]}")
    width = float(width)
    if width == 1.0:
        return _spec(name).build()
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    key = width_key(name, width)
    try:
        meta = weights.manifest(key, cache_dir)
        if meta.get("recipe") == _recipe_record(RECIPES[name]) and meta.get("width") == width:
            model = RECIPES[name]["model"](width=width)
            model.load_state_dict(weights.load_state_dict(key, cache_dir))
            return model.eval()
        _log(f"{key}: cached by another recipe; training it again")
    except FileNotFoundError:
        _log(f"{key}: not trained yet; training it now (once; cached in {cache_dir})")
    except ValueError as exc:  # the hash check failed: a cache is derived data, so remake it
        _log(f"{key}: {exc}; training it again")
    model, info = fit(name, width)
    weights.save(key, model.state_dict(), info, cache_dir)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.models.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(RECIPES),
                        help=f"models to train (default: all of {', '.join(RECIPES)}; also: minilm)")
    parser.add_argument("--out", type=Path, default=weights.WEIGHTS_DIR, help="folder for NAME.pt and NAME.json")
    args = parser.parse_args(argv)
    allowed = [*RECIPES, "minilm"]
    for name in args.names:
        if name not in allowed:
            print(f"error: model={name!r} is not allowed: one of {', '.join(allowed)}", file=sys.stderr)
            return 2
    for name in args.names:
        if name == "minilm":
            from lab.models import minilm

            meta = minilm.record_manifest(args.out)
            print(f"minilm: {meta['package']} {meta['package_version']}  sha256 {meta['sha256']}"
                  f"  -> {args.out / 'minilm.json'}")
            continue
        meta = train(name, args.out)
        print(f"{name}: {meta['metric']} {meta[meta['metric']]:.4f}  params {meta['params']:,}  "
              f"{meta['train_s']:.0f} s  sha256 {meta['sha256']}  -> {args.out / meta['file']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
