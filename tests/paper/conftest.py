"""Fixtures of the paper tests (rows from paper_rows)."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from paper_rows import make_rows, make_sensitivity  # noqa: E402


@pytest.fixture
def rows():
    return make_rows()


@pytest.fixture
def sensitivity():
    return make_sensitivity()

