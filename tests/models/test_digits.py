"""The digits family: its fixed split, its inputs, and the weights' hash check (shared by all)."""
import json

import pytest
import torch

from lab.models import digits, weights


def test_tampered_weights_are_refused(tmp_path):
    meta = weights.manifest("digits-mlp")
    data = bytearray((weights.WEIGHTS_DIR / meta["file"]).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped in the middle of the weights
    (tmp_path / meta["file"]).write_bytes(bytes(data))
    (tmp_path / "digits-mlp.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match their sha256"):
        weights.load_state_dict("digits-mlp", tmp_path)


def test_the_split_is_fixed_and_stratified():
    x_train, y_train, x_test, y_test = digits.digits_split()
    assert (len(x_train), len(x_test)) == (1437, 360)
    assert torch.bincount(y_test).min() >= 35  # every class held out, ~36 each


@pytest.mark.parametrize("make_input", [digits.make_input, digits.make_image_input])
def test_inputs_are_real_held_out_digits_of_any_batch_size(make_input):
    for batch in (1, 7, 2048):
        x = make_input(batch)
        assert x.shape[0] == batch and x.dtype == torch.float32 and x.is_contiguous()
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # The images are the same held-out digits as the flat inputs, cycled past the 360 of the test split.
    assert torch.equal(digits.make_image_input(400).flatten(1), digits.make_input(400))
    assert torch.equal(digits.make_input(400)[360:], digits.make_input(40))


def test_width_scales_every_layer_and_never_reaches_zero():
    assert digits.scaled(64, 0.5) == 32 and digits.scaled(1, 0.25) == 1 and digits.scaled(1024, 2.0) == 2048
    half = digits.DigitsCNN(width=0.5)
    assert [m.out_channels for m in half.features if isinstance(m, torch.nn.Conv2d)] == [16, 32, 32]
    assert digits.DigitsMLP(width=0.25).net[0].out_features == 256
