"""lab.data.config: the loader's knobs, validated once; bad input is one line naming the field."""
import pytest

from lab.data import KNOBS, LoaderConfig, grid
from lab.errors import FieldError


@pytest.mark.parametrize("kwargs, field, allowed", [
    ({"num_workers": -1}, "num_workers=-1", "a whole number from 0 to 64"),
    ({"prefetch_factor": 2}, "prefetch_factor=2", "when num_workers is 0"),
    ({"batch_size": 0}, "batch_size=0", "a whole number from 1"),
    ({"persistent_workers": True}, "persistent_workers=True", "when num_workers is 0"),
    ({"sample_cost_ms": -0.5}, "sample_cost_ms=-0.5", "a number from 0"),
    ({"storage": "cloud"}, "storage='cloud'", "memory, files, array"),
    ({"dataset": "imagenet"}, "dataset='imagenet'", "digits, mnist1d"),
    ({"model": "resnet"}, "model='resnet'", "none"),
    ({"num_workers": 2, "prefetch_factor": 0}, "prefetch_factor=0", "a whole number from 1"),
])
def test_bad_input_is_one_line_naming_the_field(kwargs, field, allowed):
    with pytest.raises(FieldError) as info:
        LoaderConfig(**kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(field) and allowed in message


def test_defaults_and_identity():
    config = LoaderConfig()
    assert config.dataset == "mnist1d" and config.storage == "memory" and config.num_workers == 0
    assert config.threads >= 1 and config.prefetch_factor is None and config.model == "none"
    assert config.config_id == LoaderConfig().config_id
    assert config.config_id != LoaderConfig(num_workers=1).config_id
    assert config.to_dict()["sample_cost_ms"] == 0.0 and set(config.to_dict()) == set(KNOBS)


def test_workers_allow_prefetch_and_persistence():
    config = LoaderConfig(num_workers=2, prefetch_factor=4, persistent_workers=True)
    assert config.prefetch_factor == 4 and config.persistent_workers


def test_grid_is_the_product_and_leaves_worker_knobs_off_the_points_without_workers():
    configs = grid(num_workers=[0, 1, 2], prefetch_factor=4, sample_cost_ms=[0.0, 0.2])
    assert len(configs) == 6
    assert [c.prefetch_factor for c in configs if c.num_workers == 0] == [None, None]
    assert all(c.prefetch_factor == 4 for c in configs if c.num_workers)
    with pytest.raises(FieldError, match="prefetch_factor"):
        grid(num_workers=0, prefetch_factor=4)  # alone, the impossible point is refused
    with pytest.raises(FieldError, match="^speed"):
        grid(speed=1)
