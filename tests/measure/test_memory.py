import pytest
import torch

from lab.measure import memory
from lab.models.digits import DigitsMLP


def test_a_known_allocation_reads_its_size():
    size_mib = 64
    peak = memory.peak_mib(lambda: torch.ones(size_mib * memory.MIB // 4))
    assert size_mib - 0.5 <= peak <= size_mib + 4


def test_memory_freed_earlier_does_not_hide_a_pass():
    # glibc reuses freed heap memory without the kernel seeing it; the measurement must not read 0.
    for _ in range(3):
        junk = [torch.ones(256 * 1024) for _ in range(64)]  # 64 x 1 MiB, then freed
        del junk
    peak = memory.peak_mib(lambda: torch.ones(16 * memory.MIB // 4))
    assert peak >= 15.5


@torch.inference_mode()
def test_batch_2048_mlp_reads_its_real_activation_size():
    model = DigitsMLP().eval()
    x = torch.rand(2048, 64)
    model(x)  # warm
    activation_mib = 2048 * 1024 * 4 / memory.MIB   # one hidden layer's output: 8 MiB
    peak = memory.peak_mib(lambda: model(x))
    assert peak >= activation_mib                   # at least one activation is live
    assert peak <= 4 * activation_mib               # never more than a few at once


def test_model_size_is_the_weights_as_stored():
    model = torch.nn.Linear(1024, 1024)
    weights_mib = (1024 * 1024 + 1024) * 4 / memory.MIB
    assert memory.model_size_mib(model) == pytest.approx(weights_mib, rel=0.01)
    assert memory.model_size_mib(model.to(torch.bfloat16)) == pytest.approx(weights_mib / 2, rel=0.01)


@pytest.mark.gpu
def test_cuda_peak_reads_a_known_allocation():
    peak = memory.peak_mib(lambda: torch.ones(32 * memory.MIB // 4, device="cuda"), "cuda:0")
    assert 32 <= peak <= 34
