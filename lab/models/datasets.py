"""The built-in models' data splits, shipped as arrays so a first use costs milliseconds, not seconds.

Making them costs seconds and heavy imports: scikit-learn (digits: ~2.6 s to import and split)
and the mnist1d generator (~4.4 s, with matplotlib and scipy). Both are deterministic, so the
results ship in ``data/datasets/NAME.npz`` (plain arrays, loaded with ``allow_pickle=False``)
beside ``NAME.json`` with the sha256 of their content; ``load`` checks it. Where a file is
missing (or does not match) the split is made as before, from the package, and that is said.

    python -m lab.models.datasets digits mnist1d     # reproduce the shipped files (needs the packages)
"""
from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "datasets"
KEYS = ("x_train", "y_train", "x_test", "y_test")


def _digits() -> dict[str, np.ndarray]:
    """scikit-learn's bundled digits, x / 16 as float32 (n, 64), an 80/20 stratified split, seed 0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x, y = (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=data.target)
    return {"x_train": x[idx_train], "y_train": y[idx_train], "x_test": x[idx_test], "y_test": y[idx_test]}


def _mnist1d() -> dict[str, np.ndarray]:
    """MNIST-1D from its generator with the default arguments (4,000 / 1,000 signals of 40 samples)."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset  # pulls in matplotlib

    # make_dataset seeds Python's and NumPy's global generators; put them back afterwards.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"x_train": np.asarray(data["x"], dtype=np.float32), "y_train": np.asarray(data["y"], dtype=np.int64),
            "x_test": np.asarray(data["x_test"], dtype=np.float32),
            "y_test": np.asarray(data["y_test"], dtype=np.int64)}


MAKERS: dict[str, Callable[[], dict[str, np.ndarray]]] = {"digits": _digits, "mnist1d": _mnist1d}


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays' dtypes, shapes and bytes in KEYS order (not of the .npz file, whose zip
    headers vary with the NumPy version)."""
    digest = hashlib.sha256()
    for key in KEYS:
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load(name: str, data_dir: Path = DATA_DIR) -> dict[str, np.ndarray]:
    """The split ``name`` ('digits', 'mnist1d'): the shipped arrays after their sha256 check, else made now."""
    if name not in MAKERS:
        raise ValueError(f"dataset={name!r} is not allowed: one of {', '.join(MAKERS)}")
    path, meta_path = data_dir / f"{name}.npz", data_dir / f"{name}.json"
    try:
        with np.load(path, allow_pickle=False) as shipped:
            arrays = {key: shipped[key] for key in KEYS}
        expected = json.loads(meta_path.read_text())["sha256"]
    except (OSError, KeyError, ValueError) as exc:
        why = f"{path} cannot be read ({exc})"
    else:
        if content_sha256(arrays) == expected:
            return arrays
        why = f"{path} does not match its sha256 in {meta_path.name}"
    warnings.warn(f"dataset {name}: {why}; making it from its package instead (slower): "
                  f"python -m lab.models.datasets {name} reproduces the file", stacklevel=2)
    return MAKERS[name]()


def write(name: str, data_dir: Path = DATA_DIR) -> dict:
    """Make ``name`` from its package and write NAME.npz and NAME.json (sha256 of the content)."""
    arrays = MAKERS[name]()
    data_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(data_dir / f"{name}.npz", **arrays)
    meta = {"dataset": name, "sha256": content_sha256(arrays), "made_by": f"python -m lab.models.datasets {name}",
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    (data_dir / f"{name}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


if __name__ == "__main__":
    for arg in sys.argv[1:] or list(MAKERS):
        print(json.dumps(write(arg)))
