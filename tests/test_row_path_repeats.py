"""lab.paths.RowPath._rows checks ``repeats`` for every path (Bench, LoaderBench, TrainBench): a bad value
is a FieldError before any stored row is read or anything is measured. Before, Bench and LoaderBench took
repeats=0, and ``stored(config)[-0:]`` served every stored row of the configuration."""
import pytest

import lab
from lab.data import LoaderBench
from lab.data import grid as loader_grid
from lab.errors import FieldError
from lab.store import Store
from lab.train import TrainBench, TrainConfig

BAD = (0, -1, 1.5, True, "2")


def _never(*args, **kwargs):
    raise AssertionError("measured with a bad repeats")


def _paths():
    env = {"environment": lambda device: {"env_id": "e"}}
    return [(lab.Bench(None, measure=_never, **env), lab.grid(model="digits-mlp")),
            (LoaderBench(None, measure=_never, **env), loader_grid(num_workers=[0])),
            (TrainBench(None, measure=_never, **env), [TrainConfig(model="digits-cnn")])]


@pytest.mark.parametrize("repeats", BAD)
@pytest.mark.parametrize("which", range(3), ids=["Bench", "LoaderBench", "TrainBench"])
def test_a_bad_repeats_is_a_field_error_on_every_path(which, repeats):
    bench, configs = _paths()[which]
    with pytest.raises(FieldError, match=r"repeats=.* is not allowed: a whole number from 1"):
        bench.rows(configs, repeats=repeats)


def test_repeats_zero_no_longer_serves_every_stored_row(tmp_path, fake_measure):
    store = Store(tmp_path / "s.sqlite")
    configs = lab.grid(model="digits-mlp")
    assert len(lab.Bench(store).rows(configs, repeats=2)) == 2
    measured = len(fake_measure.calls)
    with pytest.raises(FieldError, match="repeats=0"):
        lab.Bench(store).rows(configs, repeats=0)
    assert len(fake_measure.calls) == measured
