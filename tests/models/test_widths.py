"""Width multiplier: other widths are trained on demand, cached with their sha256, and reloaded."""
import pytest
import torch

from lab.models import registry, train, weights


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "CACHE_DIR", tmp_path / "models")
    return tmp_path / "models"


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_a_half_width_model_is_trained_once_then_reloaded_from_the_cache(cache, monkeypatch, capsys):
    spec = registry.get("digits-cnn")
    # Inside inference mode, as when the runner asks for it mid-measurement: training must still work.
    with torch.inference_mode():
        half = spec.build_width(0.5)
    assert "epoch 1/" in capsys.readouterr().err  # progress, a line per epoch
    assert _params(half) < _params(spec.build()) / 2
    assert not half.training
    meta = weights.manifest("digits-cnn-w0.5", cache)
    assert weights.sha256_of(cache / "digits-cnn-w0.5.pt") == meta["sha256"]
    assert meta["width"] == 0.5 and meta["accuracy"] > 0.9
    assert spec.evaluate(half, torch.device("cpu"), torch.float32) == pytest.approx(meta["accuracy"], abs=1e-6)

    def no_training(*args, **kwargs):
        raise AssertionError("retrained a width that was cached")

    monkeypatch.setattr(train, "fit", no_training)
    again = spec.build_width(0.5)
    assert all(torch.equal(a, b) for a, b in zip(half.state_dict().values(), again.state_dict().values()))


@pytest.mark.slow
def test_a_tampered_cache_entry_is_trained_again(cache):
    first = train.build_width("digits-cnn", 0.25)
    path = cache / "digits-cnn-w0.25.pt"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    again = train.build_width("digits-cnn", 0.25)  # the hash check fails: remade, same recipe, same weights
    assert weights.sha256_of(path) == weights.manifest("digits-cnn-w0.25", cache)["sha256"]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_width_one_is_the_shipped_model(cache):
    model = registry.get("mnist1d-cnn").build_width(1.0)
    shipped = registry.get("mnist1d-cnn").build()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))
    assert not cache.exists()


@pytest.mark.parametrize("width", [0.2, 2.5, True, "1"])
def test_widths_out_of_range_are_refused_in_one_line(width):
    with pytest.raises(ValueError, match=r"^width=.* is not allowed: a multiplier from 0.25 to 2.0$"):
        train.build_width("digits-cnn", width)


def test_every_trained_builtin_has_a_width_knob_and_minilm_has_none():
    for name in train.RECIPES:
        assert registry.get(name).build_width is not None
    assert registry.get("minilm").build_width is None
    assert train.width_key("mnist1d-cnn", 0.5) == "mnist1d-cnn-w0.5"
