"""Study files with kind = "training": a grid of training knobs, seeds, repeats; bad input one line."""
import pytest

from lab import study as studies
from lab.errors import FieldError


def write(tmp_path, text):
    path = tmp_path / "t.toml"
    path.write_text(text)
    return path


def test_a_training_study_gives_train_configs_seed_last(tmp_path):
    study = studies.load(write(tmp_path, 'name = "t"\nkind = "training"\nseeds = [0, 1, 2]\nrepeats = 2\n'
                                         '[grid]\nmodel = ["digits-cnn"]\nlabel_noise = [0.0, 0.2]\n'
                                         'data_kept = [1.0, 0.5]\n'))
    configs = study.configs()
    assert study.kind == "training" and len(configs) == 12 and study.repeats == 2
    assert [c.seed for c in configs[:3]] == [0, 1, 2] and type(configs[0]).__name__ == "TrainConfig"
    assert study.resolved()["kind"] == "training"


@pytest.mark.parametrize("text, field", [
    ('[grid]\nmodel = ["digits-cnn"]\nlabel_noise = [1.5]\n', "grid.label_noise"),
    ('[grid]\nmodel = ["digits-cnn"]\ntarget_accuracy = 1.2\n', "grid.target_accuracy"),
    ('[grid]\nmodel = ["digits-cnn"]\nquant = ["bf16"]\n', "grid.quant"),
    ('[grid]\nlabel_noise = [0.2]\n', "grid.model"),
    ('[quality]\nmax_drop = 0.01\n[grid]\nmodel = ["digits-cnn"]\n', "quality"),
])
def test_bad_training_study_is_one_line_naming_the_file_and_field(tmp_path, text, field):
    with pytest.raises(ValueError) as caught:
        studies.load(write(tmp_path, 'name = "t"\nkind = "training"\n' + text))
    message = str(caught.value)
    assert "\n" not in message and f"{field}=" in message and "t.toml" in message


def test_an_unknown_kind_is_one_line(tmp_path):
    with pytest.raises(FieldError, match="kind='loaders' is not allowed: 'inference' or 'training'"):
        studies.load(write(tmp_path, 'name = "t"\nkind = "loaders"\n[grid]\nmodel = ["digits-cnn"]\n'))


def test_an_inference_study_is_unchanged(tmp_path):
    study = studies.load(write(tmp_path, 'name = "i"\n[grid]\nmodel = ["digits-mlp"]\nbatch_size = [1, 8]\n'))
    assert study.kind == "inference" and len(study.configs()) == 2 and "kind" not in study.resolved()


@pytest.mark.parametrize("grid, allowed", [
    ('[grid]\nbits = [8]\n', "grid.bits=[8] is not allowed: a training knob: one of model, "),
    ('[grid]\nlabel_noise = [0.2]\n', 'a list of model names (required), e.g. model = ["digits-cnn"]'),
    ("", 'grid=None is not allowed: a [grid] table with at least one training knob (required), e.g. model = '),
])
def test_a_training_grid_is_checked_as_an_inference_one_with_training_knobs(tmp_path, grid, allowed):
    with pytest.raises(ValueError) as caught:
        studies.load(write(tmp_path, 'name = "t"\nkind = "training"\n' + grid))
    assert allowed in str(caught.value)
