import types

import pytest
import torch

from lab.measure.sync import device_sync


class FakeBackend:
    """torch.mps / torch.cuda stand-in: records every synchronize() call and its arguments."""

    def __init__(self):
        self.calls = []

    def synchronize(self, *args):
        self.calls.append(args)


def fake_torch():
    return types.SimpleNamespace(cuda=FakeBackend(), mps=FakeBackend())


def test_cpu_needs_no_sync():
    assert device_sync("cpu", torch_module=fake_torch()) is None
    assert device_sync(torch.device("cpu")) is None


def test_mps_sync_calls_torch_mps_synchronize():
    fake = fake_torch()
    sync = device_sync("mps", torch_module=fake)
    sync()
    sync()
    assert fake.mps.calls == [(), ()]
    assert fake.cuda.calls == []


@pytest.mark.parametrize("device, passed", [("cuda", "cuda"), ("cuda:1", "cuda:1"),
                                            (torch.device("cuda", 0), "cuda:0")])
def test_cuda_sync_names_its_device(device, passed):
    fake = fake_torch()
    device_sync(device, torch_module=fake)()
    assert fake.cuda.calls == [(passed,)]
    assert fake.mps.calls == []


def test_a_device_without_synchronize_is_refused():
    with pytest.raises(ValueError, match="synchronize"):
        device_sync("weird", torch_module=fake_torch())
