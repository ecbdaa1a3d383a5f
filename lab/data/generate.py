"""Write the on-disk copies of a dataset's training split for the loader's ``files`` and ``array`` storage.

    python -m lab.data.generate --dataset mnist1d --samples 4000      # default: the whole split
    python -m lab.data.generate --dataset digits --root /tmp/gen

Under ``ROOT/DATASET/`` (default ``data/generated/``, gitignored): ``images/NNNNNN.png`` (one
16-bit grayscale PNG per sample: 8x8 for digits, 1x40 for MNIST-1D, values scaled linearly
between the split's min and max), ``x.npy`` (float32, one row per sample: the array storage),
``y.npy`` (labels) and ``meta.json`` (what was written, the PNG scale). ``--samples`` sizes
the set: the first N samples, repeated when N is larger than the split (a bigger set on disk
for a longer epoch; repeated samples decode the same).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from lab.data.storage import GENERATED_DIR, PNG_LEVELS, SAMPLE_SHAPE, split
from lab.errors import FieldError

MAX_SAMPLES = 1_000_000
META_VERSION = 1


def _meta_ok(folder: Path, samples: int | None) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("version") == META_VERSION and (samples is None or meta.get("samples") == samples)


def generate(dataset: str, samples: int | None = None, root: Path = GENERATED_DIR, *, force: bool = False) -> Path:
    """Write ROOT/DATASET/ (see the module docstring) and return that folder; kept as it is when it
    already holds ``samples`` samples (any number when None) unless ``force``."""
    if dataset not in SAMPLE_SHAPE:
        raise FieldError("dataset", dataset, "one of " + ", ".join(SAMPLE_SHAPE))
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                or not 1 <= samples <= MAX_SAMPLES):
        raise FieldError("samples", samples, f"a whole number from 1 to {MAX_SAMPLES}")
    folder = Path(root) / dataset
    if not force and _meta_ok(folder, samples):
        return folder
    from PIL import Image

    x, y = split(dataset)
    n = samples or len(y)
    order = np.arange(n) % len(y)
    x, y = x[order], y[order]
    low, high = float(x.min()), float(x.max())
    tmp = folder.with_name(folder.name + ".tmp")  # written aside, then moved: a killed run leaves no half set
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    levels = np.rint((x - low) / (high - low) * PNG_LEVELS).astype(np.uint16)
    for i, row in enumerate(levels):
        Image.fromarray(row.reshape(SAMPLE_SHAPE[dataset])).save(tmp / "images" / f"{i:06d}.png")
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    meta = {"version": META_VERSION, "dataset": dataset, "samples": n, "sample_shape": list(SAMPLE_SHAPE[dataset]),
            "png_bits": 16, "png_low": low, "png_high": high,
            "made_by": f"python -m lab.data.generate --dataset {dataset} --samples {n}"}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def samples_on_disk(dataset: str, root: Path = GENERATED_DIR) -> int | None:
    """How many samples ROOT/DATASET/ holds (its meta.json), or None where nothing valid is written yet."""
    try:
        meta = json.loads((Path(root) / dataset / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("samples") if meta.get("version") == META_VERSION else None


def ensure(dataset: str, root: Path = GENERATED_DIR) -> Path:
    """ROOT/DATASET/, generated now (the whole split) if it is missing."""
    return generate(dataset, None, root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.data.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(SAMPLE_SHAPE), default="mnist1d")
    parser.add_argument("--samples", type=int, default=None, help="samples to write (default: the whole split)")
    parser.add_argument("--root", type=Path, default=GENERATED_DIR, help=f"where (default {GENERATED_DIR})")
    parser.add_argument("--force", action="store_true", help="write again even if present")
    args = parser.parse_args(argv)
    try:
        folder = generate(args.dataset, args.samples, args.root, force=args.force)
    except FieldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.loads((folder / "meta.json").read_text())["samples"], "samples in", folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
