import json

import pytest
import torch

from lab.hardware import cpu_model
from lab.models import registry, weights
from lab.models.train import train


def test_shipped_weights_match_their_sha256():
    meta = weights.manifest("digits-mlp")
    assert weights.sha256_of(weights.WEIGHTS_DIR / meta["file"]) == meta["sha256"]


def test_shipped_weights_reach_their_recorded_accuracy():
    spec = registry.get("digits-mlp")
    model = spec.build()
    accuracy = spec.evaluate(model, torch.device("cpu"), torch.float32)
    assert accuracy == pytest.approx(spec.recorded_quality, abs=1e-6)
    assert accuracy > 0.95


def test_tampered_weights_are_refused(tmp_path):
    meta = weights.manifest("digits-mlp")
    data = bytearray((weights.WEIGHTS_DIR / meta["file"]).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped in the middle of the weights
    (tmp_path / meta["file"]).write_bytes(bytes(data))
    (tmp_path / "digits-mlp.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match their sha256"):
        weights.load_state_dict("digits-mlp", tmp_path)


def test_inputs_are_real_held_out_digits_of_any_batch_size():
    spec = registry.get("digits-mlp")
    for batch in (1, 7, 2048):
        x = spec.make_input(batch)
        assert x.shape == (batch, 64) and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_weights(tmp_path):
    shipped = weights.manifest("digits-mlp")
    made = train("digits-mlp", tmp_path)
    assert made["accuracy"] == pytest.approx(shipped["accuracy"], abs=0.01)
    if made["torch_version"] != shipped["torch_version"] or cpu_model() != shipped.get("cpu_model"):
        pytest.skip("bit-identical weights are only expected with the same torch and CPU; accuracy matched")
    assert made["sha256"] == shipped["sha256"]
