"""Shipped weights: saved with their sha256 and a manifest, loaded only after the hash matches.

Each model ``NAME`` has ``data/models/NAME.pt`` (a state_dict) and
``data/models/NAME.json`` (sha256, recorded quality, the recipe that made it).
Loading uses ``torch.load(weights_only=True)``: no pickled code runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(name: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    path = weights_dir / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"weights manifest {path} is missing; make it with: python -m lab.models.train {name}")
    return json.loads(path.read_text())


def load_state_dict(name: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """The state_dict of model ``name``, after checking the file against its recorded sha256."""
    meta = manifest(name, weights_dir)
    path = weights_dir / meta["file"]
    actual = sha256_of(path)
    if actual != meta["sha256"]:
        raise ValueError(f"weights={path} do not match their sha256 (expected {meta['sha256'][:12]}…, "
                         f"got {actual[:12]}…); rebuild them with: python -m lab.models.train {name}")
    return torch.load(path, map_location="cpu", weights_only=True)


def save(name: str, state_dict: dict, info: dict, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """Write NAME.pt and its manifest (sha256 + ``info``); returns the manifest."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    path = weights_dir / f"{name}.pt"
    torch.save(state_dict, path)
    meta = {"file": path.name, "sha256": sha256_of(path), **info}
    (weights_dir / f"{name}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta
