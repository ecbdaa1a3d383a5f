"""lab.models.datasets: the shipped splits are exactly what their packages make, checked on load."""
import shutil

import numpy as np
import pytest

from lab.models import datasets


@pytest.mark.parametrize("name", list(datasets.MAKERS))
def test_the_shipped_split_is_what_its_package_makes(name):
    shipped, made = datasets.load(name), datasets.MAKERS[name]()
    for key in datasets.KEYS:
        assert shipped[key].dtype == made[key].dtype and np.array_equal(shipped[key], made[key]), key
    assert datasets.content_sha256(shipped) == datasets.content_sha256(made)


def test_a_file_that_does_not_match_its_sha256_is_not_used(tmp_path):
    shutil.copy(datasets.DATA_DIR / "digits.json", tmp_path / "digits.json")
    arrays = datasets.load("digits")
    np.savez(tmp_path / "digits.npz", **{**arrays, "y_test": arrays["y_test"][::-1]})  # tampered labels
    with pytest.warns(UserWarning, match="does not match its sha256"):
        made = datasets.load("digits", data_dir=tmp_path)
    assert np.array_equal(made["y_test"], arrays["y_test"])  # made from scikit-learn instead


def test_an_unknown_dataset_is_one_line():
    with pytest.raises(ValueError, match="^dataset='cifar' is not allowed: one of digits, mnist1d$"):
        datasets.load("cifar")
