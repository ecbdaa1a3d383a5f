"""Quantization schemes on the CPU: numerics against fp32, stored size, and clear reasons where a
scheme can't run. Models are small and seeded: a 256-wide Linear MLP and a tiny TransformerEncoder
classifier."""
import copy
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from lab.measure.memory import model_size_mib
from lab.transforms import Unsupported
from lab.transforms import quantize as q

# Output vs fp32, as SQNR in dB (20 log10 |y_fp32| / |y - y_fp32|), worst of the two models.
# Observed on this CPU (Zen4, torch 2.13, torchao 0.18), MLP / transformer:
#   bf16 47 / 47, fp16 66 / 66, int8-dynamic 34 / 37, int8-dynamic-torchao 38 / 44,
#   int8-weight-only 43 / 46, int4-weight-only 20.5 / 29, int8-static 38 / 40.
# Each threshold leaves about 6 dB (a factor 2 in error) for other CPUs' kernels.
MIN_SQNR_DB = {
    "fp32": math.inf,
    "bf16": 40.0,
    "fp16": 58.0,
    "int8-dynamic": 27.0,
    "int8-dynamic-torchao": 31.0,
    "int8-weight-only": 36.0,
    "int4-weight-only": 15.0,
    "int8-static": 31.0,
}
CPU_SCHEMES = [name for name in q.SCHEMES if q.supported(name, "cpu") is None]
INT8_SCHEMES = ["int8-dynamic", "int8-dynamic-torchao", "int8-weight-only", "int8-static"]


def sqnr_db(reference: torch.Tensor, y: torch.Tensor) -> float:
    error = (reference.float() - y.float()).norm()
    return math.inf if error == 0 else (20 * torch.log10(reference.float().norm() / error)).item()


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10)).eval()


class TinyEncoderClassifier(nn.Module):
    """Two TransformerEncoderLayers (d=64, 4 heads) over a (batch, 16, 64) sequence, mean-pooled to 10 logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


MODELS = {"mlp": (mlp, (64,)), "transformer": (TinyEncoderClassifier, (16, 64))}


def inputs(shape, n, seed):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def quantized(name, model, x, calibration=None):
    # As the runner does it: inside inference mode, then the input cast to the scheme's dtype.
    with torch.inference_mode():
        model = q.quantize(model, name, "cpu", example_input=x, calibration=calibration)
        return model, model(q.cast_input(x, name))


def test_thresholds_cover_every_cpu_scheme():
    assert sorted(MIN_SQNR_DB) == sorted(CPU_SCHEMES)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("name", CPU_SCHEMES)
def test_output_is_close_to_fp32(name, model_name):
    build, shape = MODELS[model_name]
    base = build().eval()
    x = inputs(shape, 32, seed=1)
    with torch.inference_mode():
        reference = base(x)
    _, y = quantized(name, copy.deepcopy(base), x, calibration=inputs(shape, 256, seed=2))
    assert y.shape == reference.shape
    assert sqnr_db(reference, y) >= MIN_SQNR_DB[name]


@pytest.mark.parametrize("name", INT8_SCHEMES)
def test_int8_stores_about_a_quarter_of_fp32(name):
    base = mlp()
    model, _ = quantized(name, copy.deepcopy(base), inputs((64,), 4, seed=1), calibration=inputs((64,), 128, seed=2))
    assert 3.0 <= model_size_mib(base) / model_size_mib(model) <= 4.5


@pytest.mark.parametrize("name, low, high", [("bf16", 1.9, 2.1), ("fp16", 1.9, 2.1), ("int4-weight-only", 5.0, 8.0)])
def test_float_halves_and_int4_stores_less_than_int8(name, low, high):
    base = mlp()
    model, _ = quantized(name, copy.deepcopy(base), inputs((64,), 4, seed=1))
    assert low <= model_size_mib(base) / model_size_mib(model) <= high


@pytest.mark.parametrize("name, device", [("fp8", "cpu"), ("fp8", "mps"), ("int8-dynamic", "cuda"),
                                          ("int8-static", "cuda"), ("int8-dynamic", "mps"),
                                          ("int4-weight-only", "mps"), ("int8-weight-only", "mps")])
def test_a_scheme_that_cannot_run_there_says_why(name, device):
    reason = q.supported(name, device)
    assert reason is not None and name in reason and device in reason and "\n" not in reason
    with pytest.raises(Unsupported) as info:
        q.quantize(mlp(), name, device)
    assert str(info.value) == reason


def test_fp8_reason_names_the_capability_it_needs():
    assert q.supported("fp8", "cpu") == ("fp8 needs a CUDA GPU of compute capability 8.9 or newer (Ada/Hopper); "
                                         "this device is cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_schemes_on_a_machine_without_cuda_say_so():
    assert "no CUDA device" in q.supported("int4-weight-only", "cuda")


def test_a_model_without_linear_layers_is_unsupported_not_silently_fp32():
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval()
    for name in ("int8-dynamic", "int8-weight-only", "int4-weight-only"):
        with pytest.raises(Unsupported, match=f"{name} quantizes nn.Linear layers.*none"):
            q.quantize(copy.deepcopy(conv), name, "cpu")


@pytest.mark.parametrize("fast_path_before", [True, False])
def test_int8_dynamic_transformer_runs_in_inference_mode_and_leaves_the_fast_path_flag(fast_path_before):
    base = TinyEncoderClassifier().eval()
    x = inputs((16, 64), 8, seed=1)
    with torch.inference_mode():
        reference = base(x)
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(fast_path_before)
    try:
        model, y = quantized("int8-dynamic", copy.deepcopy(base), x)
        assert torch.backends.mha.get_fastpath_enabled() is fast_path_before
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
    assert isinstance(model, q.MHAFastPathOff)
    assert sqnr_db(reference, y) >= MIN_SQNR_DB["int8-dynamic"]


def test_int8_dynamic_wraps_only_models_with_the_crashing_fast_path():
    model, _ = quantized("int8-dynamic", mlp(), inputs((64,), 2, seed=1))
    assert isinstance(model, nn.Sequential)


def activation_scales(graph: torch.fx.GraphModule) -> list[float]:
    """The fixed activation scales a converted PT2E graph quantizes with, in graph order."""
    target = torch.ops.quantized_decomposed.quantize_per_tensor.default
    return [node.args[1] for node in graph.graph.nodes if node.op == "call_function" and node.target is target]


def test_int8_static_scales_come_from_the_calibration_samples():
    x = inputs((64,), 4, seed=1)
    narrow, _ = quantized("int8-static", mlp(), x, calibration=inputs((64,), 128, seed=2))
    wide, _ = quantized("int8-static", mlp(), x, calibration=3 * inputs((64,), 128, seed=2))
    first_narrow, first_wide = activation_scales(narrow)[0], activation_scales(wide)[0]
    assert first_wide / first_narrow == pytest.approx(3.0, rel=0.05)  # observed: exactly 3


@pytest.mark.parametrize("batch_size", [1, 64])
def test_int8_static_takes_any_batch_size(batch_size):
    base = mlp()
    model, _ = quantized("int8-static", copy.deepcopy(base), inputs((64,), 2, seed=1),
                         calibration=inputs((64,), 256, seed=2))
    x = inputs((64,), batch_size, seed=3)
    with torch.inference_mode():
        y, reference = model(x), base(x)
    assert y.shape == (batch_size, 10)
    assert sqnr_db(reference, y) >= MIN_SQNR_DB["int8-static"]


def test_int8_static_without_calibration_is_unsupported():
    with pytest.raises(Unsupported, match="^int8-static needs calibration data: this model has no training split$"):
        q.quantize(mlp(), "int8-static", "cpu", example_input=inputs((64,), 2, seed=1))


def test_int8_static_calibrates_with_one_sample_and_tolerates_eval():
    model, _ = quantized("int8-static", mlp(), inputs((64,), 1, seed=1), calibration=inputs((64,), 1, seed=2))
    model.eval()  # an exported graph would raise here; the lab may call it


def test_cast_input_follows_the_scheme():
    x, ids = torch.randn(2, 4), torch.arange(4)
    assert q.cast_input(x, "int4-weight-only").dtype == torch.bfloat16
    assert q.cast_input(x, "int8-static").dtype == torch.float32
    assert q.cast_input((x, ids), "bf16")[1].dtype == torch.long


@pytest.mark.parametrize("call", [lambda: q.get("int3"), lambda: q.supported("int3", "cpu"),
                                  lambda: q.quantize(mlp(), "int3", "cpu")])
def test_an_unknown_scheme_is_a_value_error_naming_quant(call):
    with pytest.raises(ValueError, match=r"^quant='int3' is not allowed: one of fp32, bf16, .*int8-static"):
        call()


def test_every_cpu_scheme_runs_quietly():
    # torchao 0.18 logs "Failed to load ..._C_mxfp8...so" and a pytree notice on a CPU-only torch,
    # torch.ao warns it is deprecated, and the PT2E passes import torch code that warns too.
    code = ("import torch; from lab.transforms import quantize as q\n"
            f"for name in {CPU_SCHEMES!r}:\n"
            "    x = torch.randn(4, 32)\n"
            "    m = q.quantize(torch.nn.Sequential(torch.nn.Linear(32, 32)), name, 'cpu', calibration=x)\n"
            "    m(q.cast_input(x, name))")
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
