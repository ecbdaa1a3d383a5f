"""Recovery fine-tuning: pruned zeros stay zero, accuracy comes back, inference mode, time budget, seeds."""
import copy
import time

import pytest
import torch
from torch import nn

from lab.transforms.finetune import finetune
from lab.transforms.prune import prune



def blobs(n: int, seed: int):
    """Four well-separated Gaussian classes in 16-D: a dense MLP scores 1.0, reliably."""
    centers = torch.randn(4, 16, generator=torch.Generator().manual_seed(123)) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    return centers[y] + torch.randn(n, 16, generator=g), y


TRAIN, TEST = blobs(512, 1), blobs(512, 2)


def accuracy(model):
    with torch.no_grad():
        return (model(TEST[0]).argmax(dim=1) == TEST[1]).float().mean().item()


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))


@pytest.fixture(scope="module")
def trained():
    with torch.random.fork_rng():
        model = mlp()
        finetune(model, TRAIN, 5, lr=1e-2)  # no zeros yet: plain training
    assert accuracy(model) > 0.98
    return model


def test_finetune_restores_accuracy_after_pruning_and_keeps_zeros(trained):
    model = prune(copy.deepcopy(trained), "random", 0.9, device="cpu")
    pruned_zeros = [layer.weight == 0 for layer in (model[0], model[2], model[4])]
    before = [layer.weight.detach().clone() for layer in (model[0], model[2], model[4])]
    assert accuracy(model) < 0.6  # random pruning at 90 % wrecks it
    result = finetune(model, TRAIN, 10, lr=1e-2)
    assert accuracy(model) > 0.95
    assert result == {"finetune_epochs_done": 10}  # it changes the model; the runner measures it
    for layer, was_zero, old in zip((model[0], model[2], model[4]), pruned_zeros, before):
        assert bool((layer.weight[was_zero] == 0).all())  # pruned stay pruned
        assert not torch.equal(layer.weight[~was_zero], old[~was_zero])  # the rest trained
    assert not model.training


def test_finetune_works_when_called_under_inference_mode():
    with torch.inference_mode():  # as the runner calls it, on a model built there too
        model = prune(mlp(), "unstructured", 0.5, device="cpu")
        x, y = TRAIN[0].clone(), TRAIN[1].clone()
        assert model[0].weight.is_inference()
        before = model[0].weight.clone()
        finetune(model, (x, y), 1)
        assert not torch.equal(model[0].weight, before)
        assert int((model[0].weight == 0).sum()) == 512
        model(x)  # still runs in inference mode


def test_finetune_trains_batchnorm_in_train_mode_and_returns_eval():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4)).eval()
    stats = model[1].running_mean.clone()
    x, y = TRAIN[0][:129], TRAIN[1][:129]  # the last batch of one is dropped: BatchNorm can't train on it
    finetune(model, (x, y), 1, batch_size=64)
    assert not torch.equal(model[1].running_mean, stats)
    assert not model.training


def test_finetune_stops_when_out_of_time():
    model = mlp()
    started = time.perf_counter()
    result = finetune(model, TRAIN, 50, batch_size=8, max_seconds=0.0)
    assert result["finetune_epochs_done"] == 0  # stopped after the first batch: a partial epoch doesn't count
    assert time.perf_counter() - started < 5


def test_finetune_is_deterministic_for_a_seed():
    def run(seed):
        model = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.2), nn.ReLU(), nn.Linear(32, 4))
        model.load_state_dict(mlp_state)
        finetune(model, TRAIN, 2, seed=seed)
        return model.state_dict()

    torch.manual_seed(0)
    mlp_state = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.2), nn.ReLU(), nn.Linear(32, 4)).state_dict()
    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_finetune_leaves_the_callers_rng_alone():
    model = mlp()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    finetune(model, TRAIN, 1)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("field, kwargs", [
    ("finetune_epochs", {"epochs": -1}),
    ("batch_size", {"epochs": 1, "batch_size": 0}),
    ("lr", {"epochs": 1, "lr": 0.0}),
    ("max_seconds", {"epochs": 1, "max_seconds": -1}),
])
def test_bad_arguments_are_value_errors_naming_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        finetune(mlp(), TRAIN, **kwargs)
