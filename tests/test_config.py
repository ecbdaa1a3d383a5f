import subprocess
import sys

import pytest

from lab.config import KNOBS, Config, grid, implied
from lab.errors import FieldError
from lab.hardware import cpu_count


@pytest.mark.parametrize("field, value, words", [
    ("model", "no-such-model", "digits-mlp"),
    ("model", 3, "one of"),
    ("batch_size", 0, "whole number from 1"),
    ("batch_size", -4, "whole number from 1"),
    ("batch_size", 2.5, "whole number"),
    ("batch_size", True, "whole number"),
    ("batch_size", 1 << 21, "whole number from 1"),
    ("device", "gpu", "cpu, cuda, cuda:N or mps"),
    ("threads", 0, "whole number from 1"),
    ("threads", "2", "whole number"),
    ("quant", "int3", "fp32"),
    ("compile", "yes", "true or false"),
    ("prune_method", "magic", "none"),
    ("sparsity", 1.5, "not including"),
    ("sparsity", -0.1, "from 0"),
    ("sparsity", 1.0, "not including"),
])
def test_every_invalid_field_names_field_value_and_what_is_allowed(field, value, words):
    with pytest.raises(FieldError) as info:
        Config(**{"model": "digits-mlp", field: value})
    assert (info.value.field, info.value.value) == (field, value)  # no front end parses the message
    message = str(info.value)
    assert message.startswith(f"{field}={value!r} is not allowed:")
    assert words in message
    assert "\n" not in message


def test_sparsity_without_a_pruning_method_is_refused():
    with pytest.raises(ValueError, match="sparsity=0.5 .*choose a pruning method"):
        Config(model="digits-mlp", sparsity=0.5)


def test_defaults_are_resolved_and_recorded():
    config = Config(model="digits-mlp")
    assert config.threads == cpu_count()
    assert config.device == "cpu"
    assert Config(model="digits-mlp", device="cpu").to_dict()["quant"] == "fp32"


def test_config_is_frozen():
    with pytest.raises(Exception):
        Config(model="digits-mlp").batch_size = 3


def test_config_id_is_stable_across_processes_and_distinguishes_fields():
    config = Config(model="digits-mlp", batch_size=64, threads=1, quant="bf16")
    code = ("from lab.config import Config; "
            "print(Config(model='digits-mlp', batch_size=64, threads=1, quant='bf16').config_id)")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other_process.stdout.strip() == config.config_id
    assert Config(model="digits-mlp", batch_size=64, threads=1, quant="fp32").config_id != config.config_id
    assert Config(model="digits-mlp", batch_size=64, threads=1, quant="bf16").config_id == config.config_id


def test_cuda_is_normalised_to_cuda_0_on_any_machine():
    assert Config(model="digits-mlp", device="cuda").device == "cuda:0"
    assert Config(model="digits-mlp", device="cuda").config_id == Config(model="digits-mlp", device="cuda:0").config_id


def test_grid_is_the_cartesian_product_in_nesting_order():
    configs = grid(model="digits-mlp", batch_size=[1, 64], quant=["fp32", "bf16"], threads=1)
    assert [(c.batch_size, c.quant) for c in configs] == [(1, "fp32"), (1, "bf16"), (64, "fp32"), (64, "bf16")]
    assert len({c.config_id for c in configs}) == 4


def test_grid_refuses_unknown_knobs_and_empty_lists():
    with pytest.raises(ValueError, match="knob"):
        grid(model="digits-mlp", colour=["red"])
    with pytest.raises(ValueError, match="batch_size=\\[\\] is not allowed: at least one value"):
        grid(model="digits-mlp", batch_size=[])


def test_grid_gives_one_baseline_for_sparsities_without_a_pruning_method():
    configs = grid(model="digits-mlp", prune_method=["none", "unstructured"], sparsity=[0.3, 0.5])
    assert [(c.prune_method, c.sparsity) for c in configs] == [("none", 0.0), ("unstructured", 0.3),
                                                               ("unstructured", 0.5)]
    with pytest.raises(ValueError, match="choose a pruning method"):
        grid(model="digits-mlp", sparsity=[0.3])


def test_grid_refuses_a_pruning_method_without_its_sparsity():
    # The knob's default, 0, would prune nothing without a word.
    for methods in ("unstructured", ["none", "structured"]):
        with pytest.raises(FieldError) as info:
            grid(model="digits-mlp", prune_method=methods)
        assert info.value.field == "sparsity" and "\n" not in str(info.value)
        assert "prune_method" in str(info.value) and "a number from 0 up to (not including) 1" in str(info.value)
    # What needs no sparsity, or is given one (0 included: the start of a sparsity curve), is fine.
    assert [c.sparsity for c in grid(model="digits-mlp", prune_method=["none", "2:4"])] == [0.0, 0.5]
    assert [c.sparsity for c in grid(model="digits-mlp", prune_method="unstructured", sparsity=[0, 0.5])] == [0, 0.5]


def test_grid_fine_tunes_the_pruned_points_not_the_baseline():
    configs = grid(model="digits-mlp", prune_method=["none", "structured"], sparsity=0.5, finetune_epochs=[0, 2])
    assert [(c.prune_method, c.finetune_epochs) for c in configs] == [("none", 0), ("structured", 0),
                                                                      ("structured", 2)]
    alone = grid(model="digits-mlp", finetune_epochs=2)  # no mix: exactly what was asked for
    assert [c.finetune_epochs for c in alone] == [2]


def test_a_config_describes_it_does_not_ask_this_machine():
    # A study naming cuda, or more threads than this laptop has, loads anywhere; measuring decides.
    config = Config(model="digits-mlp", device="cuda", threads=cpu_count() + 1)
    assert (config.device, config.threads) == ("cuda:0", cpu_count() + 1)


def test_the_knobs_are_the_config_fields_each_declared_once():
    import dataclasses

    assert list(KNOBS) == [f.name for f in dataclasses.fields(Config)]
    for name, knob in KNOBS.items():
        assert knob.help and knob.label, name
        assert knob.cli_flag.startswith("--"), name


def test_what_a_pruning_method_implies_is_one_rule():
    assert implied({"prune_method": "none"}) == {"sparsity": 0.0, "finetune_epochs": 0}
    assert implied({"prune_method": "2:4"}) == {"sparsity": 0.5}
    assert implied({"prune_method": "structured"}) == {}
    assert [c.sparsity for c in grid(model="digits-mlp", prune_method=["none", "2:4"], sparsity=0.3)] == [0.0, 0.5]


def test_knob_parse_list_refuses_empty_items_naming_the_knob():
    with pytest.raises(FieldError, match=r"^batch_size='1,,2' is not allowed: a comma list without empty items"):
        KNOBS["batch_size"].parse_list("1,,2")
    assert KNOBS["compile"].parse_list("on,off") == [True, False]
    with pytest.raises(FieldError, match="^batch_size='x' is not allowed: a whole number from 1"):
        KNOBS["batch_size"].parse_list("x")
