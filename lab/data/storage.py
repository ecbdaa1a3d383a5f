"""Where a loader's samples live, as three ``torch.utils.data.Dataset`` classes over the same split.

- ``MemoryDataset``: the split as tensors in RAM (what ``lab.models.datasets`` loads);
- ``FileDataset``: one 16-bit grayscale PNG per sample on disk, decoded with Pillow per sample;
- ``ArrayDataset``: one ``.npy`` file of every sample, memory-mapped (``np.load(mmap_mode='r')``),
  read one row per sample.

The on-disk copies are written by ``python -m lab.data.generate`` (lab/data/generate.py; lab.data.measure
opens the right class and generates them when missing) under
``data/generated/`` (gitignored). Each item is ``(x, y)``: x a flat float32 tensor after the
sample's work (lab.data.work: augmentation and ``sample_cost_ms``), y an int64 label.

The classes live here, not in a notebook, so DataLoader workers can import them under the
``spawn`` start method too (Jupyter on Linux forks, which would also see a notebook's classes).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lab.data.work import SampleWork

REPO = Path(__file__).resolve().parents[2]
GENERATED_DIR = REPO / "data" / "generated"
# The natural shape of one sample (an image for PNG, the shape augmentation crops in).
SAMPLE_SHAPE = {"digits": (8, 8), "mnist1d": (1, 40)}
PNG_LEVELS = 65535  # 16-bit grayscale: MNIST-1D's standardised floats keep 4-5 significant digits


def split(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the training split of ``dataset``: x float32 (n, values per sample), y int64 (n,)."""
    from lab.models import datasets  # the shipped, checksummed arrays

    arrays = datasets.load(dataset)
    x = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float32)
    return x, arrays["y_train"].astype(np.int64)


class _Base(Dataset):
    def __init__(self, dataset: str, work: SampleWork | None):
        self.dataset = dataset
        self.work = work or SampleWork(SAMPLE_SHAPE[dataset], augment=False)

    def item(self, x: np.ndarray, y, index: int):
        return self.work(x, index), torch.tensor(int(y), dtype=torch.int64)


class MemoryDataset(_Base):
    """The split held in RAM as one float32 array."""

    def __init__(self, dataset: str, work: SampleWork | None = None, arrays=None):
        super().__init__(dataset, work)
        self.x, self.y = arrays if arrays is not None else split(dataset)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int):
        return self.item(self.x[index], self.y[index], index)


class ArrayDataset(_Base):
    """One .npy file memory-mapped: each sample is one row read from the page cache or the disk.

    The map is opened on first use in each process (a worker opens its own: a memmap is not
    shared across processes by pickling it)."""

    def __init__(self, dataset: str, folder: Path, work: SampleWork | None = None):
        super().__init__(dataset, work)
        self.folder = Path(folder)
        self.y = np.load(self.folder / "y.npy")
        self._x = None

    def __len__(self) -> int:
        return len(self.y)

    def __getstate__(self):
        return {**self.__dict__, "_x": None}

    def __getitem__(self, index: int):
        if self._x is None:
            self._x = np.load(self.folder / "x.npy", mmap_mode="r")
        return self.item(np.array(self._x[index]), self.y[index], index)


class FileDataset(_Base):
    """One PNG per sample: opened, decoded by Pillow and scaled back to the stored values, per sample."""

    def __init__(self, dataset: str, folder: Path, work: SampleWork | None = None):
        super().__init__(dataset, work)
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.low, self.high = meta["png_low"], meta["png_high"]
        self.y = np.load(self.folder / "y.npy")

    def __len__(self) -> int:
        return len(self.y)

    def path(self, index: int) -> Path:
        return self.folder / "images" / f"{index:06d}.png"

    def __getitem__(self, index: int):
        return self.item(decode_png(self.path(index), self.low, self.high), self.y[index], index)


def decode_png(path: Path, low: float, high: float) -> np.ndarray:
    """A 16-bit grayscale PNG back to float32 values in [low, high] (flat)."""
    from PIL import Image

    with Image.open(path) as image:
        levels = np.asarray(image, dtype=np.float32)
    return (low + levels.reshape(-1) * ((high - low) / PNG_LEVELS)).astype(np.float32)

