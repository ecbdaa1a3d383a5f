"""Shared test set-up: every test gets its own results store, never data/results; ``fake_measure``
makes every Bench (CLI, lab.sweep, studies, dashboard) measure with an instant fake; ``fake_gpu`` makes
lab.hardware see a CUDA device (tests/dashboard and tests/widgets).

Helpers shared by test modules are in tests/helpers.py: ``run_main(argv)`` (``python -m lab ...``
in-process), ``assert_one_error_line(code, out, err, *words, any_of=())``, ``lines(text)``, ``FakeMeasure``.
"""
from __future__ import annotations

import os
import sys

# matplotlib keeps one font cache per user (~/.cache/matplotlib) naming font files by path. Two
# checkouts' venvs share it, and once the one that wrote it is deleted, fonts resolve elsewhere and
# glyph ids change: the reference SVGs no longer redraw byte for byte (seen when a clean clone was
# removed mid-run). Each venv keeps its own cache instead; set before anything imports matplotlib.
os.environ.setdefault("MPLCONFIGDIR", os.path.join(sys.prefix, "matplotlib-cache"))

import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import FakeMeasure  # noqa: E402
from lab import bench as bench_module, hardware  # noqa: E402
from lab.models import registry  # noqa: E402


@pytest.fixture(autouse=True)
def _private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store.sqlite"))


@pytest.fixture(autouse=True)
def _private_registry():
    """Models a test registers are gone after it: a name one test registers ('mine') must not turn
    another test's unknown model into a known one."""
    registry.names()  # the built-ins, loaded once, stay
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fake_measure(monkeypatch) -> FakeMeasure:
    """Every Bench made in this test measures with a FakeMeasure (the one place the lab measures)."""
    fake = FakeMeasure()
    monkeypatch.setattr(bench_module, "default_measure", fake)
    return fake


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(hardware, "available_devices", lambda: ["cpu", "cuda:0"])
    monkeypatch.setattr(hardware, "device_name", lambda d: "Fake GPU" if d.startswith("cuda") else "Fake CPU")
