"""Reproduce the shipped weights: ``python -m lab.models.train digits-mlp``.

Training is deterministic on one machine (fixed seed, one thread, deterministic
algorithms); another CPU may round differently, so the sha256 can differ there
while the accuracy stays within a fraction of a point. Writes
data/models/NAME.pt and NAME.json (sha256, accuracy, recipe).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

from lab.models import digits, weights

RECIPES = {
    "digits-mlp": {"model": digits.DigitsMLP, "epochs": 20, "batch_size": 64, "lr": 1e-3, "seed": 0},
}


def train(name: str, weights_dir: Path = weights.WEIGHTS_DIR, epochs: int | None = None) -> dict:
    """Train model ``name`` by its recipe and save it; returns the manifest written."""
    recipe = dict(RECIPES[name])
    if epochs is not None:
        recipe["epochs"] = epochs
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(recipe["seed"])
        x_train, y_train, _, _ = digits.digits_split()
        model = recipe["model"]()
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(recipe["seed"])
        for _ in range(recipe["epochs"]):
            model.train()
            for idx in torch.randperm(len(x_train), generator=order).split(recipe["batch_size"]):
                optimizer.zero_grad()
                loss_fn(model(x_train[idx]), y_train[idx]).backward()
                optimizer.step()
        model.eval()
        acc = digits.accuracy(model, torch.device("cpu"), torch.float32)
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(previous_threads)
    from lab.hardware import cpu_model

    info = {"accuracy": round(acc, 6), "metric": "accuracy", "torch_version": torch.__version__,
            "cpu_model": cpu_model(),
            "recipe": {k: (v.__name__ if isinstance(v, type) else v) for k, v in recipe.items()},
            "made_by": f"python -m lab.models.train {name}"}
    return weights.save(name, model.state_dict(), info, weights_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.models.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(RECIPES), help=f"models to train (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--out", type=Path, default=weights.WEIGHTS_DIR, help="folder for NAME.pt and NAME.json")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in RECIPES:
            print(f"error: model={name!r} is not allowed: one of {', '.join(RECIPES)}", file=sys.stderr)
            return 2
        meta = train(name, args.out)
        print(f"{name}: accuracy {meta['accuracy']:.4f}  sha256 {meta['sha256']}  -> {args.out / meta['file']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
