"""Every built-in trained model: shipped weights, recorded quality, inputs and outputs."""
import pytest
import torch

from lab.hardware import cpu_model
from lab.models import registry, weights
from lab.models.train import RECIPES, train

TRAINED = ["digits-mlp", "digits-cnn", "mnist1d-cnn", "mnist1d-transformer"]
INPUT_SHAPES = {"digits-mlp": (64,), "digits-cnn": (1, 8, 8), "mnist1d-cnn": (1, 40), "mnist1d-transformer": (40,)}
FLOORS = {"digits-mlp": 0.95, "digits-cnn": 0.97, "mnist1d-cnn": 0.90, "mnist1d-transformer": 0.85}


@pytest.fixture(scope="module")
def built():
    return {name: registry.get(name).build() for name in TRAINED}


def test_every_builtin_is_listed():
    assert set(TRAINED) | {"minilm"} <= set(registry.names())
    assert set(RECIPES) == set(TRAINED)


@pytest.mark.parametrize("name", TRAINED)
def test_shipped_weights_match_their_sha256(name):
    meta = weights.manifest(name)
    assert weights.sha256_of(weights.WEIGHTS_DIR / meta["file"]) == meta["sha256"]


@pytest.mark.parametrize("name", TRAINED)
def test_shipped_weights_reach_their_recorded_accuracy(name, built):
    spec = registry.get(name)
    accuracy = spec.evaluate(built[name], torch.device("cpu"), torch.float32)
    assert spec.metric == "accuracy" and spec.recorded_quality == weights.manifest(name)["accuracy"]
    assert accuracy == pytest.approx(spec.recorded_quality, abs=1e-6)
    assert accuracy >= FLOORS[name]


@pytest.mark.parametrize("name", TRAINED)
def test_inputs_of_any_batch_size_give_logits(name, built):
    spec = registry.get(name)
    for batch in (1, 7, 64):
        x = spec.make_input(batch)
        assert x.shape == (batch, *INPUT_SHAPES[name]) and x.dtype == torch.float32
        with torch.no_grad():
            assert built[name](x).shape == (batch, 10)


@pytest.mark.parametrize("name", TRAINED)
def test_training_data_has_the_input_shape_and_labels(name):
    spec = registry.get(name)
    x, y = spec.train_data()
    assert x.shape[1:] == INPUT_SHAPES[name] and x.dtype == torch.float32
    assert y.shape == (len(x),) and y.dtype == torch.long and set(y.tolist()) == set(range(10))


@pytest.mark.parametrize("name", TRAINED)
def test_models_are_built_in_eval_mode_on_the_cpu(name, built):
    model = built[name]
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "mnist1d-cnn"])  # the transformer takes ~75 s
def test_training_script_reproduces_the_shipped_weights(name, tmp_path):
    shipped = weights.manifest(name)
    made = train(name, tmp_path, log=None)
    assert made["accuracy"] == pytest.approx(shipped["accuracy"], abs=0.01)
    if made["torch_version"] != shipped["torch_version"] or cpu_model() != shipped.get("cpu_model"):
        pytest.skip("bit-identical weights are only expected with the same torch and CPU; accuracy matched")
    assert made["sha256"] == shipped["sha256"]
    assert (tmp_path / f"{name}.json").read_text() == (weights.WEIGHTS_DIR / f"{name}.json").read_text()
