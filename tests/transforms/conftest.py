import pytest

from lab.hardware import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: on a shared 2-core machine, OpenMP threads spinning against other
    # processes make each op ~100x slower; one thread keeps these tests fast.
    with torch_threads(1):
        yield
