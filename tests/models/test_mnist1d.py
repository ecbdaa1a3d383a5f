"""MNIST-1D: generated offline, deterministically, without touching anyone's random state."""
import random
import socket

import numpy as np
import pytest
import torch

from lab.models import mnist1d, weights


def test_the_data_are_generated_without_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D generation tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    mnist1d.mnist1d_split.cache_clear()
    x_train, y_train, x_test, y_test = mnist1d.mnist1d_split()
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40) and x_train.dtype == torch.float32
    assert y_train.shape == (4000,) and y_test.shape == (1000,) and y_train.dtype == torch.long


def test_generation_is_deterministic_and_matches_the_data_the_weights_were_trained_on():
    first = mnist1d.data_sha256()
    mnist1d.mnist1d_split.cache_clear()
    assert mnist1d.data_sha256() == first
    for name in ("mnist1d-cnn", "mnist1d-transformer"):
        assert weights.manifest(name)["data_sha256"] == first


def test_generation_leaves_the_global_random_generators_alone():
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.rand())
    random.seed(123)
    np.random.seed(123)
    mnist1d.mnist1d_split.cache_clear()
    mnist1d.mnist1d_split()
    assert (random.random(), np.random.rand()) == expected


def test_inputs_are_real_held_out_signals():
    x_test = mnist1d.mnist1d_split()[2]
    assert torch.equal(mnist1d.make_signal_input(1003)[1000:], x_test[:3])  # cycled past the test set
    assert torch.equal(mnist1d.make_channel_input(5), x_test[:5].unsqueeze(1))


@pytest.mark.parametrize("width, d_model", [(1.0, 64), (0.5, 32), (0.25, 16), (0.3, 20), (2.0, 128)])
def test_transformer_width_keeps_d_model_a_multiple_of_the_heads(width, d_model):
    model = mnist1d.Mnist1dTransformer(width=width)
    assert model.embed.out_features == d_model
    assert model(torch.zeros(2, 40)).shape == (2, 10)
