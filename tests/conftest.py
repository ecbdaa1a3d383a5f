"""Shared test set-up: every test gets its own results store, never data/results; ``fake_measure``
makes every Bench (CLI, lab.sweep, studies, dashboard) measure with an instant fake; ``fake_gpu`` makes
lab.hardware see a CUDA device (tests/dashboard and tests/widgets).

Helpers shared by test modules are in tests/helpers.py: ``run_main(argv)`` (``python -m lab ...``
in-process), ``assert_one_error_line(code, out, err, *words, any_of=())``, ``lines(text)``, ``FakeMeasure``.
"""
from __future__ import annotations

import pytest
import torch

from helpers import FakeMeasure
from lab import bench as bench_module, hardware
from lab.models import registry


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
