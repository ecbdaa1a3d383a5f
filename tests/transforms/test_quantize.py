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
    base, x = mlp(), inputs((64,), 1, seed=1)
    model, _ = quantized("int8-static", copy.deepcopy(base), x, calibration=x)  # one sample (export needs 2)
    scales = activation_scales(model)
    assert len(scales) == 3 and all(math.isfinite(s) and s > 0 for s in scales)  # one per Linear's input
    model.eval()  # an exported graph would raise here; the lab may call it
    with torch.inference_mode():
        y = model(x)  # still runs after eval(), and is calibrated on exactly this sample's range
    assert y.shape == (1, 10) and sqnr_db(base(x), y) >= MIN_SQNR_DB["int8-static"]


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


# --- facts on each scheme's entry -------------------------------------------------------------------

def test_every_scheme_states_its_precision_and_bytes_per_weight():
    assert {n: s.bytes_per_weight for n, s in q.SCHEMES.items()} == {
        "fp32": 4, "bf16": 2, "fp16": 2, "int8-dynamic": 1, "int8-dynamic-torchao": 1, "int8-weight-only": 1,
        "int4-weight-only": 0.5, "int8-static": 1, "fp8": 1}
    assert {n: (s.precision(), s.precision(compiled=True)) for n, s in q.SCHEMES.items()} == {
        "fp32": ("fp32", "fp32"), "bf16": ("bf16", "bf16"), "fp16": ("fp16", "fp16"),
        "int8-dynamic": ("int8", "int8"), "int8-dynamic-torchao": ("int8", "int8"),
        "int8-weight-only": ("fp32", "fp32"),   # weights dequantized into an fp32 matmul
        "int4-weight-only": ("bf16", "bf16"),   # ... into a bf16 one
        "int8-static": ("fp32", "int8"),        # eager: fp32 matmuls between (de)quantize ops
        "fp8": ("fp8", "fp8")}


def test_a_scheme_must_state_its_facts():
    with pytest.raises(TypeError, match="compute_precision"):
        q.Scheme("x", torch.float32, ("cpu",), lambda m, ctx: m, bytes_per_weight=1)
    with pytest.raises(ValueError, match="^compute_precision='int3' is not allowed: one of fp32, "):
        q.Scheme("x", torch.float32, ("cpu",), lambda m, ctx: m, compute_precision="int3", bytes_per_weight=1,
                 layer_types=("Linear",))
    with pytest.raises(TypeError, match="layer_types"):  # which layers it converts is a fact too
        q.Scheme("x", torch.float32, ("cpu",), lambda m, ctx: m, compute_precision="int8", bytes_per_weight=1)


def test_supported_is_the_entrys_reason():
    for name, scheme in q.SCHEMES.items():
        for device in ("cpu", "cuda", "mps"):
            assert q.supported(name, device) == scheme.reason(device)
    assert q.SCHEMES["int8-dynamic"].reason("cuda:1") == "quant=int8-dynamic does not run on cuda (it runs on cpu)"


# --- coverage: what was really quantized ------------------------------------------------------------

# mlp(): Linear 64->256, 256->256, 256->10; weights and biases by count.
MLP_WEIGHTS = (64 * 256, 256 * 256, 256 * 10)
MLP_PARAMS = sum(MLP_WEIGHTS) + 256 + 256 + 10  # 85002


@pytest.mark.parametrize("name, quantized_weights", [
    ("fp32", 0), ("bf16", 0), ("fp16", 0),
    ("int8-dynamic", sum(MLP_WEIGHTS)), ("int8-dynamic-torchao", sum(MLP_WEIGHTS)),
    ("int8-weight-only", sum(MLP_WEIGHTS)), ("int8-static", sum(MLP_WEIGHTS)),
    # 10 output features: not a multiple of 16, so int4 leaves the output layer in bf16
    ("int4-weight-only", MLP_WEIGHTS[0] + MLP_WEIGHTS[1])])
def test_coverage_counts_the_weights_each_scheme_really_quantized(name, quantized_weights):
    model, _ = quantized(name, mlp(), inputs((64,), 4, seed=1), calibration=inputs((64,), 64, seed=2))
    report = q.coverage(model)
    assert report["quantized_frac"] == quantized_weights / MLP_PARAMS  # biases stay float in every scheme
    assert report["quantized_by_type"] == {"Linear": quantized_weights / MLP_PARAMS}


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


def test_coverage_by_layer_type_on_a_conv_model():
    x = inputs((1, 8, 8), 4, seed=1)
    conv, bn, linear = 16 * 9 + 16, 16 + 16, 16 * 32 + 32 + 32 * 10 + 10  # 160, 32, 874
    dynamic, _ = quantized("int8-dynamic", cnn(), x)  # torch.ao: nn.Linear only
    assert q.coverage(dynamic) == {"quantized_frac": (16 * 32 + 32 * 10) / (conv + bn + linear),
                                   "quantized_by_type": {"Conv2d": 0.0, "BatchNorm2d": 0.0,
                                                         "Linear": (16 * 32 + 32 * 10) / linear},
                                   "quant_coverage_low": False}
    # PT2E folds the BatchNorm into the conv (its weights, plus a new bias) and quantizes both layers' weights.
    static, _ = quantized("int8-static", cnn(), x, calibration=inputs((1, 8, 8), 64, seed=2))
    assert q.coverage(static) == {"quantized_frac": (16 * 9 + 16 * 32 + 32 * 10) / (conv + linear),
                                  "quantized_by_type": {"Conv2d": 144 / 160, "Linear": (16 * 32 + 32 * 10) / linear},
                                  "quant_coverage_low": False}


def test_coverage_of_a_transformer_leaves_attention_in_float():
    model, _ = quantized("int8-dynamic", TinyEncoderClassifier(), inputs((16, 64), 2, seed=1))
    report = q.coverage(model)
    # Per layer: MHA in_proj 12288 + 192, out_proj 4096 + 64, linear1 8192 + 128, linear2 8192 + 64, norms 256;
    # plus the head 640 + 10. Quantized: linear1, linear2 and head weights.
    total = 2 * (12288 + 192 + 4096 + 64 + 8192 + 128 + 8192 + 64 + 256) + 650
    assert report["quantized_frac"] == (2 * (8192 + 8192) + 640) / total
    assert report["quantized_by_type"] == {
        "MultiheadAttention": 0.0, "NonDynamicallyQuantizableLinear": 0.0, "LayerNorm": 0.0,
        "Linear": (2 * (8192 + 8192) + 640) / (2 * (8192 + 128 + 8192 + 64) + 650)}


def test_is_quantized_recognises_each_form():
    from lab.transforms.quantize_coverage import is_quantized

    assert not is_quantized(torch.randn(4, 4)) and not is_quantized(nn.Parameter(torch.randn(4, 4)))
    assert is_quantized(torch.quantize_per_tensor(torch.randn(4, 4), 0.1, 0, torch.qint8))
    assert is_quantized(torch.zeros(4, 4, dtype=torch.int8))
    model, _ = quantized("int8-weight-only", mlp(), inputs((64,), 2, seed=1))
    assert is_quantized(model[0].weight) and not is_quantized(model[0].bias)  # torchao's Int8Tensor


@pytest.mark.gpu
@pytest.mark.parametrize("name, quantized_weights", [
    ("int8-weight-only", sum(MLP_WEIGHTS)),
    # tinygemm takes in_features that are multiples of 128: not the 64-wide first layer
    ("int4-weight-only", MLP_WEIGHTS[1] + MLP_WEIGHTS[2]),
    # torch._scaled_mm needs both dims multiples of 16: not the 10-wide output layer
    ("fp8", MLP_WEIGHTS[0] + MLP_WEIGHTS[1])])
def test_coverage_of_the_cuda_schemes(name, quantized_weights):
    if q.supported(name, "cuda") is not None:
        pytest.skip(q.supported(name, "cuda"))
    model = q.quantize(mlp().cuda(), name, "cuda")
    assert q.coverage(model) == {"quantized_frac": quantized_weights / MLP_PARAMS,
                                 "quantized_by_type": {"Linear": quantized_weights / MLP_PARAMS}}
