"""Where samples live (memory, PNG files, a memory-mapped array), the generator script, and the per-sample work."""
import json
import math
import time

import numpy as np
import pytest
import torch

from lab.data import generate, work
from lab.data.measure import open_dataset
from lab.data.storage import PNG_LEVELS, SAMPLE_SHAPE, ArrayDataset, FileDataset, MemoryDataset
from lab.errors import FieldError


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    return generate.generate("digits", 50, root)


def test_generate_writes_pngs_and_one_array_sized_by_the_knob(digits_dir):
    meta = json.loads((digits_dir / "meta.json").read_text())
    assert meta["samples"] == 50 and meta["png_bits"] == 16
    assert len(list((digits_dir / "images").glob("*.png"))) == 50
    assert np.load(digits_dir / "x.npy").shape == (50, 64) and np.load(digits_dir / "y.npy").shape == (50,)
    assert generate.generate("digits", 50, digits_dir.parent) == digits_dir  # present: kept


def test_generate_repeats_the_split_for_a_bigger_set(tmp_path):
    folder = generate.generate("digits", 1437 + 3, tmp_path)
    y = np.load(folder / "y.npy")
    assert len(y) == 1440 and list(y[-3:]) == list(y[:3])


@pytest.mark.parametrize("samples", [0, -1, 1.5, True])
def test_generate_refuses_a_bad_size(samples, tmp_path):
    with pytest.raises(FieldError, match="^samples="):
        generate.generate("digits", samples, tmp_path)


def test_generate_script_refuses_a_bad_size_in_one_line(tmp_path, capsys):
    assert generate.main(["--dataset", "digits", "--samples", "0", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: samples=0")


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_the_three_storages_give_the_same_samples(dataset, digits_dir, tmp_path):
    # mnist1d's stored values span about -4 to 4 (digits' 0 to 1): a PNG level is then wider than 1 / PNG_LEVELS.
    folder = digits_dir if dataset == "digits" else generate.generate(dataset, 50, tmp_path)
    memory = MemoryDataset(dataset)
    files, array = FileDataset(dataset, folder), ArrayDataset(dataset, folder)
    assert len(files) == len(array) == 50
    meta = json.loads((folder / "meta.json").read_text())
    level = (meta["png_high"] - meta["png_low"]) / PNG_LEVELS  # one step of the PNG's scale (lab.data.generate)
    for i in (0, 17, 49):
        (xm, ym), (xf, yf), (xa, ya) = memory[i], files[i], array[i]
        assert xm.shape == xf.shape == xa.shape == (math.prod(SAMPLE_SHAPE[dataset]),) and xm.dtype == torch.float32
        assert torch.equal(xm, xa) and int(ym) == int(yf) == int(ya)
        assert (xm - xf).abs().max() <= level  # 16-bit PNG: within one level of the stored value


def test_array_dataset_pickles_without_its_map(digits_dir):
    import pickle

    array = ArrayDataset("digits", digits_dir)
    array[0]
    copy = pickle.loads(pickle.dumps(array))
    assert copy._x is None and torch.equal(copy[3][0], array[3][0])


def test_open_dataset_generates_what_is_missing(tmp_path):
    dataset = open_dataset("digits", "array", root=tmp_path)
    assert isinstance(dataset, ArrayDataset) and len(dataset) == 1437
    assert (tmp_path / "digits" / "images").is_dir()


def test_augmentation_is_seeded_by_seed_and_index():
    x = np.arange(40, dtype=np.float32)
    sample = work.SampleWork((1, 40), augment=True, seed=3)
    assert torch.equal(sample(x, 5), sample(x, 5))
    assert not torch.equal(sample(x, 5), sample(x, 6))
    assert not torch.equal(sample(x, 5), work.SampleWork((1, 40), augment=True, seed=4)(x, 5))
    plain = work.SampleWork((1, 40), augment=False)(x, 5)
    assert torch.equal(plain, torch.from_numpy(x)) and sample(x, 5).shape == (40,)


def test_augment_crops_within_the_shift_and_keeps_shape():
    rng = np.random.default_rng(0)
    image = np.ones((8, 8), dtype=np.float32)
    out = work.augment(image, rng)
    assert out.shape == (8, 8) and out.dtype == np.float32
    signal = np.ones((1, 40), dtype=np.float32)
    kept = (work.augment(signal, np.random.default_rng(1)) > 0.5).sum()
    assert 40 - work.SHIFT <= kept <= 40  # a (1, 40) signal shifts along its length only


def test_burn_cpu_spends_cpu_time_not_sleep():
    start = time.thread_time()
    steps = work.burn_cpu(20)
    spent = time.thread_time() - start
    assert steps > 0 and 0.020 <= spent < 0.2
    assert work.burn_cpu(0) == 0


def test_burn_cpu_follows_its_clock():
    ticks = iter([0.0, 0.0005, 0.001, 0.0015, 0.0021])
    assert work.burn_cpu(2, clock=lambda: next(ticks)) == 3 * work.CHECK_EVERY
