import pytest

from lab.errors import FieldError
from lab.train import KNOBS, TrainConfig, grid


@pytest.mark.parametrize("field, value, words", [
    ("label_noise", 1.5, "up to (not including) 1"),
    ("target_accuracy", 1.2, "above 0 up to 1"),
    ("lr", 0, "above 0"),
    ("data_kept", 0.0, "above 0 up to 1"),
    ("precision", "fp16", "fp32, bf16"),
    ("keep_by", "loss", "random, el2n"),
    ("time_budget_s", 0, "above 0"),
    ("model", "minilm", "digits-cnn"),
])
def test_a_bad_value_is_one_line_naming_the_field(field, value, words):
    with pytest.raises(FieldError) as caught:
        TrainConfig(**{"model": "digits-cnn", field: value})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{field}=") and words in message


def test_batch_size_and_lr_default_to_the_recipe_and_are_recorded():
    config = TrainConfig(model="digits-cnn")
    assert (config.batch_size, config.lr, config.precision) == (64, 0.003, "fp32")
    assert config.to_dict()["lr"] == 0.003 and config.threads >= 1


def test_config_id_is_stable_and_tells_configs_apart():
    a, b = TrainConfig(model="digits-cnn"), TrainConfig(model="digits-cnn", seed=1)
    assert a.config_id == TrainConfig(model="digits-cnn").config_id != b.config_id
    assert len(a.config_id) == 16


def test_grid_is_the_product_and_keep_by_means_nothing_with_all_data():
    configs = grid(model="digits-cnn", data_kept=[1.0, 0.5], keep_by=["random", "el2n"], seed=[0, 1])
    assert len(configs) == 6  # (1.0, random) once per seed; (0.5, random) and (0.5, el2n) per seed
    assert {(c.data_kept, c.keep_by) for c in configs} == {(1.0, "random"), (0.5, "random"), (0.5, "el2n")}
    with pytest.raises(FieldError, match="^colour="):
        grid(model="digits-cnn", colour="red")


def test_every_knob_has_a_label_and_help():
    assert all(k.label and k.help for k in KNOBS.values())
