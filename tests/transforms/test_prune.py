"""Pruning: sparsity within one element of the target, permanent masks, structured pruning that
really shrinks params and FLOPs, 2:4 refusing without an Ampere GPU, the sparse-size report and
the per-layer sensitivity scan."""
import copy
import io

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lab.models.digits import DigitsCNN
from lab.sensitivity import scan
from lab.transforms import Unsupported, semi_structured
from lab.transforms import prune as prune_module
from lab.transforms.prune import (METHODS, accelerate, coverage, nonzero_by_type, prunable_layers, prune,
                                  sparsity_report)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()


class ResidualCNN(nn.Module):
    """A ResNet-style block: the add ties the stem's channels to the block's second conv.
    The head is registered first but called last (forward order, not registration order)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(16, 10)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1, self.bn1 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.stem(x)
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return self.head(torch.relu(x + y).mean(dim=(2, 3)))


def conv1d():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(2, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(),
        nn.Conv1d(16, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 20, 5)).eval()


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 32)
        layer = nn.TransformerEncoderLayer(32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 3)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


MODELS = {
    "mlp": (mlp, lambda: torch.randn(4, 16)),
    "cnn": (cnn, lambda: torch.randn(2, 3, 12, 12)),
    "residual": (lambda: ResidualCNN().eval(), lambda: torch.randn(2, 3, 12, 12)),
    "conv1d": (conv1d, lambda: torch.randn(2, 2, 20)),
}


def params(model):
    return sum(p.numel() for p in model.parameters())


def flops(model, x):
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def zeros(t):
    return int((t == 0).sum())


# --- unstructured ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["unstructured", "random"])
@pytest.mark.parametrize("sparsity", [0.3, 0.75])
def test_per_layer_methods_reach_the_target_in_every_layer(method, sparsity):
    model = prune(cnn(), method, sparsity, device="cpu")
    for name, layer in prunable_layers(model):
        target = round(sparsity * layer.weight.numel())
        assert abs(zeros(layer.weight) - target) <= 1, name
        assert zeros(layer.bias) == 0  # biases are not pruned
    assert zeros(model[1].weight) == 0  # nor are norms


@pytest.mark.parametrize("method", ["unstructured-global", "random-global"])
def test_global_methods_reach_the_target_in_total_but_unevenly(method):
    sparsity = 0.6
    model = prune(mlp(), method, sparsity, device="cpu")
    weights = [layer.weight for _, layer in prunable_layers(model)]
    total = sum(w.numel() for w in weights)
    assert abs(sum(zeros(w) for w in weights) - round(sparsity * total)) <= 1
    off_target = [abs(zeros(w) - round(sparsity * w.numel())) > 1 for w in weights]
    assert any(off_target)  # the budget moved between layers


def test_unstructured_keeps_the_largest_weights():
    model = mlp()
    weight = model[0].weight.detach().clone()
    pruned = prune(model, "unstructured", 0.5, device="cpu")[0].weight
    kept = weight.abs()[pruned != 0]
    dropped = weight.abs()[pruned == 0]
    assert kept.min() >= dropped.max()
    assert torch.equal(pruned[pruned != 0], weight[pruned != 0])  # survivors untouched


def test_masks_are_permanent_and_state_dict_keys_unchanged():
    for method in ("unstructured", "unstructured-global", "random", "random-global"):
        model = cnn()
        keys = list(model.state_dict())
        pruned = prune(model, method, 0.5, device="cpu")
        assert list(pruned.state_dict()) == keys, method
        assert not any("_orig" in k or "_mask" in k for k in pruned.state_dict())
        assert all(not m._forward_pre_hooks for m in pruned.modules())
        assert all(type(p) is nn.Parameter for p in pruned.parameters())


def test_random_pruning_is_reproducible_and_not_magnitude_pruning():
    a = prune(mlp(), "random", 0.5, device="cpu")[0].weight
    b = prune(mlp(), "random", 0.5, device="cpu")[0].weight
    c = prune(mlp(), "unstructured", 0.5, device="cpu")[0].weight
    assert torch.equal(a == 0, b == 0)
    assert not torch.equal(a == 0, c == 0)


@pytest.mark.parametrize("method", ["random", "random-global"])
def test_the_seed_picks_the_random_mask(method):
    masks = [prune(mlp(), method, 0.5, device="cpu", seed=seed)[0].weight == 0 for seed in (0, 0, 1)]
    assert torch.equal(masks[0], masks[1])
    assert not torch.equal(masks[0], masks[2])


def test_unstructured_works_under_inference_mode():
    with torch.inference_mode():
        model = prune(mlp(), "unstructured", 0.5, device="cpu")
        assert zeros(model[0].weight) == 512
        model(torch.randn(2, 16))


def test_none_returns_the_model_untouched():
    model = mlp()
    before = copy.deepcopy(model.state_dict())
    assert prune(model, "none", 0.0, device="cpu") is model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- structured ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_structured_shrinks_params_and_flops_and_keeps_the_output_shape(name):
    build, make_input = MODELS[name]
    model, x = build(), make_input()
    expected = model(x).shape
    pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
    assert params(pruned) < 0.6 * params(model)
    assert flops(pruned, x) < 0.6 * flops(model, x)
    assert pruned(x).shape == expected
    assert not pruned.training
    assert sparsity_report(pruned)["sparsity_reached"] == 0.0  # smaller, not sparser


def test_structured_leaves_the_output_layer_and_the_callers_model_alone():
    model, x = ResidualCNN(), torch.randn(2, 3, 12, 12)
    pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
    assert pruned.head.out_features == 10 and pruned.head.in_features == 8
    assert model.conv1.out_channels == 16  # pruned a copy


def test_structured_transformer_prunes_only_the_mlp():
    # torch-pruning (1.6) prunes nn.TransformerEncoderLayer's MLP; if a version stops doing so, this
    # fails with its Unsupported reason rather than passing without checking anything.
    model, x = TinyTransformer().eval(), torch.randint(0, 50, (2, 7))
    expected = model(x).shape
    pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
    assert pruned(x).shape == expected
    assert params(pruned) < params(model)
    for layer in pruned.encoder.layers:  # attention and the residual width are kept whole
        assert layer.self_attn.embed_dim == 32 and layer.linear2.out_features == 32
        assert layer.linear1.out_features == 32  # 64 -> 32 hidden


def test_structured_keeps_hugging_face_attention_whole():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=32)
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    ids = torch.randint(0, 100, (2, 12))
    pruned = prune(model, "structured", 0.5, example_input=(ids, torch.ones_like(ids)), device="cpu")
    layer = pruned.encoder.layer[0]
    # Pruning q/k/v without head bookkeeping would mix heads; only the MLP's hidden width shrinks.
    assert layer.attention.self.query.out_features == 64 and layer.intermediate.dense.out_features == 64
    assert pruned(ids, torch.ones_like(ids)).last_hidden_state.shape == (2, 12, 64)


def test_structured_works_on_a_model_built_under_inference_mode():
    # Inference tensors are invisible to torch-pruning's tracer: without the fix it prunes nothing, silently.
    with torch.inference_mode():
        model, x = cnn(), torch.randn(2, 3, 12, 12)
        pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
        assert params(pruned) < 0.6 * params(model)
        assert pruned(x).shape == (2, 10)


def test_structured_on_a_model_with_nothing_to_prune_is_unsupported():
    model = nn.Sequential(nn.Linear(8, 3)).eval()  # only the output layer
    with pytest.raises(Unsupported, match="no channels"):
        prune(model, "structured", 0.5, example_input=torch.randn(2, 8), device="cpu")


def test_structured_refuses_a_ratio_that_would_empty_a_layer():
    # torch-pruning would silently skip such a layer, so 0.95 would prune less than 0.9.
    with pytest.raises(Unsupported, match="every channel of a 16-channel layer; at most 0.937"):
        prune(cnn(), "structured", 0.95, example_input=torch.randn(2, 3, 12, 12), device="cpu")
    pruned = prune(cnn(), "structured", 0.937, example_input=torch.randn(2, 3, 12, 12), device="cpu")
    assert pruned[0].out_channels == 1


def test_structured_needs_an_example_input():
    with pytest.raises(ValueError, match="example_input"):
        prune(mlp(), "structured", 0.5, device="cpu")


# --- 2:4 -------------------------------------------------------------------------------------------

def test_2_4_on_cpu_is_unsupported_with_the_reason():
    with pytest.raises(Unsupported) as info:
        prune(mlp(), "2:4", 0.5, example_input=torch.randn(2, 16), device="cpu")
    assert str(info.value) == ("2:4 semi-structured sparsity needs a CUDA GPU of compute capability 8.0 or newer "
                               "(Ampere); this device is cpu")
    assert METHODS["2:4"].fixed_sparsity == 0.5
    with pytest.raises(Unsupported, match="compute capability 8.0"):
        accelerate(mlp(), "2:4", "cpu")


def test_2_4_mask_pattern_and_fp32_refusal_without_a_gpu():
    # The mask and the dtype check don't need a GPU; only the kernel does.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    keys = list(model.state_dict())
    masked = semi_structured.mask_2_4(model)
    per_group = (masked[0].weight.reshape(-1, 4) == 0).sum(dim=1)
    assert bool((per_group == 2).all()) and semi_structured.is_2_4(masked[0].weight)
    assert zeros(masked[2].weight) == 0  # 32 inputs: a shape the kernel doesn't take
    assert list(masked.state_dict()) == keys
    with pytest.raises(Unsupported, match=r"fp16, bf16 or int8 weights; use --quant fp16/bf16"):
        semi_structured.to_sparse_kernels(masked)
    with pytest.raises(Unsupported, match="no nn.Linear has a shape"):
        semi_structured.mask_2_4(nn.Sequential(nn.Linear(16, 8)))


def test_accelerate_leaves_other_methods_alone():
    model = prune(mlp(), "unstructured", 0.5, device="cpu")
    for method in METHODS:
        if method != "2:4":
            assert accelerate(model, method, "cpu") is model


@pytest.mark.gpu
def test_2_4_on_cuda_masks_2_of_4_and_runs_the_sparse_kernel():
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("needs compute capability 8.0+")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    model = model.cuda().eval()
    x = torch.randn(64, 128, device="cuda")
    pruned = prune(model, "2:4", 0.5, example_input=x, device="cuda:0")
    for layer in (pruned[0], pruned[2]):
        per_group = (layer.weight.reshape(-1, 4) == 0).sum(dim=1)
        assert bool((per_group == 2).all())
    assert zeros(pruned[4].weight) == 0  # 10 outputs: a shape the kernel doesn't take, left dense
    dense = copy.deepcopy(pruned).half()
    with pytest.raises(Unsupported, match="fp16, bf16 or int8"):
        accelerate(copy.deepcopy(pruned), "2:4", "cuda:0")  # fp32 weights
    fast = accelerate(pruned.half(), "2:4", "cuda:0")
    assert type(fast[0].weight).__name__.startswith("SparseSemiStructuredTensor")
    with torch.inference_mode():
        torch.testing.assert_close(fast(x.half()), dense(x.half()), rtol=1e-2, atol=1e-2)


# --- sparsity_report --------------------------------------------------------------------------------

def test_sparsity_report_counts_exactly():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0., 1, 2, 3], [0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 5]]))
        model[0].bias.copy_(torch.tensor([1., 0, 2, 0]))
        model[1].weight.fill_(1.0)
        model[1].bias.fill_(0.0)  # zeros outside the prunable weights count as params, not as sparsity
    report = sparsity_report(model)
    assert report["params"] == 16 + 4 + 4 + 4
    assert report["nonzero_params"] == 28 - 6 - 2 - 4
    assert report["sparsity_reached"] == 6 / 16
    assert sparsity_report(mlp())["sparsity_reached"] == 0.0


def test_sparse_size_is_larger_than_dense_at_low_sparsity_and_smaller_at_high():
    def dense_mib(model):
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        return buffer.tell() / 2**20

    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(256, 256))
    low = prune(copy.deepcopy(layer), "unstructured", 0.1, device="cpu")
    high = prune(copy.deepcopy(layer), "unstructured", 0.95, device="cpu")
    assert sparsity_report(low)["sparse_size_mib"] > dense_mib(low)
    assert sparsity_report(high)["sparse_size_mib"] < dense_mib(high)


# --- sensitivity_scan ------------------------------------------------------------------------------

def test_sensitivity_scan_has_a_row_per_layer_and_sparsity():
    model, x = mlp(), torch.randn(128, 16)
    with torch.no_grad():
        labels = model(x).argmax(dim=1)  # the unpruned model scores 1.0 on its own predictions

    def evaluate(m):
        with torch.no_grad():
            return (m(x).argmax(dim=1) == labels).float().mean().item()

    before = copy.deepcopy(model.state_dict())
    steps = []
    frame = scan(model, evaluate, sparsities=(0.0, 0.5, 0.9), on_step=lambda d, t: steps.append((d, t)))
    assert list(frame.columns) == ["layer", "sparsity", "accuracy", "params"]
    assert frame.shape == (3 * 3, 4)
    assert sorted(set(frame["layer"])) == ["0", "2", "4"]
    assert (frame[frame["sparsity"] == 0.0]["accuracy"] == evaluate(model)).all()
    assert dict(zip(frame["layer"], frame["params"])) == {"0": 16 * 64, "2": 64 * 32, "4": 32 * 4}
    assert steps[-1] == (9, 9) and len(steps) == 9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # model untouched


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, True, "0.5"])
def test_sparsity_outside_zero_to_one_is_a_value_error(sparsity):
    with pytest.raises(ValueError, match="sparsity"):
        prune(mlp(), "unstructured", sparsity, device="cpu")


def test_unknown_method_is_a_value_error_listing_the_allowed_ones():
    with pytest.raises(ValueError, match="prune_method") as info:
        prune(mlp(), "magic", 0.5, device="cpu")
    for name in ("none", "unstructured", "unstructured-global", "random", "random-global", "structured", "2:4"):
        assert name in str(info.value)
    assert list(METHODS) == ["none", "unstructured", "unstructured-global", "random", "random-global",
                             "structured", "2:4"]


# --- facts on each method's entry -------------------------------------------------------------------

def test_supported_is_the_entrys_reason_and_says_why():
    assert prune_module.supported("2:4", "cpu") == ("2:4 semi-structured sparsity needs a CUDA GPU of compute "
                                                    "capability 8.0 or newer (Ampere); this device is cpu")
    for name, method in METHODS.items():
        for device in ("cpu", "cuda", "mps"):
            assert prune_module.supported(name, device) == method.reason(device)
        assert method.reason("cpu") is None or name == "2:4"
        assert method.sparsity_means  # every method says what its sparsity knob counts
    with pytest.raises(ValueError, match=r"^prune_method='magic' is not allowed: one of none, "):
        prune_module.supported("magic", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_2_4_on_cuda_without_a_gpu_says_torch_sees_none():
    assert prune_module.supported("2:4", "cuda").endswith("; torch sees no CUDA device on this machine")


def test_a_method_with_a_device_list_refuses_other_devices():
    method = prune_module.PruneMethod("gpu-only", "test", lambda m, s, **_: m, "test", device_types=("cuda",))
    assert method.reason("mps") == "prune_method=gpu-only does not run on mps (it runs on cuda)"


# --- coverage: what pruning really removed ----------------------------------------------------------

# DigitsCNN (the digits-cnn architecture, untrained): Conv 1->32->64->64 (3x3, no bias), BatchNorm2d after
# each, Linear 64->10. Nonzero parameters by type (a fresh BatchNorm's shift is zero: only its scale counts):
CNN_CONV = 1 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9    # 55584
CNN_BN = 32 + 64 + 64                                 # 160
CNN_LINEAR = 64 * 10 + 10                             # 650
CNN_PARAMS = CNN_CONV + CNN_BN + CNN_LINEAR           # 56394
CNN_ELEMENTS = CNN_PARAMS + CNN_BN                    # 56554: with the BatchNorm shifts, zero at the start
# FLOPs of one 8x8 sample: 2 x Cin x Cout x 9 per pixel per conv, + 2 x 64 x 10 for the Linear.
CNN_FLOPS = 2 * 64 * 9 * (1 * 32 + 32 * 64 + 64 * 64) + 2 * 64 * 10


def digits_cnn():
    torch.manual_seed(0)
    return DigitsCNN().eval()


def test_nonzero_by_type_leaves_out_zeros_the_model_starts_with():
    assert nonzero_by_type(digits_cnn()) == {"Conv2d": CNN_CONV, "BatchNorm2d": CNN_BN, "Linear": CNN_LINEAR}


def test_structured_half_removes_three_quarters_of_digits_cnn():
    # sparsity 0.5 = half of each layer's channels (32, 64, 64 -> 16, 32, 32); the next layer loses the
    # matching inputs, so about 1 - 0.5^2 of the weights go, while sparsity_reached reads 0.0.
    model, x = digits_cnn(), torch.randn(1, 1, 8, 8)
    before, flops_before = nonzero_by_type(model), flops(model, x)
    assert flops_before == CNN_FLOPS
    pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
    conv_after = 1 * 16 * 9 + 16 * 32 * 9 + 32 * 32 * 9   # 13968
    bn_after, linear_after = 16 + 32 + 32, 32 * 10 + 10    # nonzero: the scales; the shifts are still 0
    flops_after = 2 * 64 * 9 * (1 * 16 + 16 * 32 + 32 * 32) + 2 * 32 * 10
    report = coverage(before, pruned, flops_before, flops(pruned, x))
    assert report == {
        "params_removed_frac": 1 - (conv_after + bn_after + linear_after) / CNN_PARAMS,
        "flops_removed_frac": 1 - flops_after / CNN_FLOPS,
        "pruned_by_type": {"Conv2d": 1 - conv_after / CNN_CONV, "BatchNorm2d": 0.5,
                           "Linear": 1 - linear_after / CNN_LINEAR},
        "zero_by_type": {"Conv2d": 0.0, "BatchNorm2d": 0.5, "Linear": 0.0},  # BN: its zero shifts
        # every tensor but the classifier's bias changed (its weight lost inputs)
        "params_touched_frac": 1 - 10 / CNN_ELEMENTS, "prune_coverage_low": False,
        "prune_skipped": {"Linear": "classifier: the output layer, kept for the output shape"}}
    assert round(report["params_removed_frac"], 4) == 0.7450 and round(report["flops_removed_frac"], 4) == 0.7487
    assert sparsity_report(pruned)["sparsity_reached"] == 0.0  # the zero count alone says nothing happened


def test_unstructured_half_zeros_the_prunable_weights_and_saves_no_flops():
    model, x = digits_cnn(), torch.randn(1, 1, 8, 8)
    before = nonzero_by_type(model)
    pruned = prune(model, "unstructured", 0.5, device="cpu")  # in place: hence nonzero_by_type first
    zeroed = CNN_CONV // 2 + 640 // 2  # half of each conv and Linear weight (the biases stay)
    report = coverage(before, pruned, CNN_FLOPS, flops(pruned, x))
    assert report == {"params_removed_frac": zeroed / CNN_PARAMS, "flops_removed_frac": 0.0,
                      "pruned_by_type": {"Conv2d": 0.5, "BatchNorm2d": 0.0, "Linear": 320 / CNN_LINEAR},
                      "zero_by_type": {"Conv2d": 0.5, "BatchNorm2d": 0.5, "Linear": 320 / CNN_LINEAR},
                      # the conv and Linear weights were touched; biases and norms not
                      "params_touched_frac": (CNN_CONV + 640) / CNN_ELEMENTS, "prune_coverage_low": False,
                      "prune_skipped": {"BatchNorm2d": METHODS["unstructured"].skips["norm"]}}


def test_coverage_takes_a_model_or_a_count_and_missing_flops():
    base, pruned = digits_cnn(), prune(digits_cnn(), "unstructured", 0.5, device="cpu")
    from_model = coverage(base, pruned)
    assert from_model == coverage(nonzero_by_type(base), pruned)
    assert from_model["flops_removed_frac"] is None  # no FLOP counts given: unknown, not 0
    from_count = coverage(sparsity_report(base)["nonzero_params"], pruned, CNN_FLOPS, None)
    assert from_count["params_removed_frac"] == from_model["params_removed_frac"]
    assert from_count["pruned_by_type"] is None and from_count["flops_removed_frac"] is None
    with pytest.raises(ValueError, match=r"^before='lots' is not allowed"):
        coverage("lots", pruned)


def test_sparse_size_arithmetic_matches_torch_save_of_real_csr_tensors():
    """sparse_size_mib is computed, not converted: check it against the real thing, a state_dict
    with every prunable weight converted to CSR and written by torch.save."""
    from lab.transforms.prune_base import prunable_weights

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Conv1d(4, 8, 3), nn.Linear(96, 10))
    for sparsity in (0.0, 0.5, 0.9):
        pruned = prune(copy.deepcopy(model), "unstructured", sparsity, device="cpu") if sparsity else model
        names = {f"{n}.{k}" for n, _, k in prunable_weights(pruned)}
        state = {}
        for key, value in pruned.state_dict().items():
            if key in names:
                csr = value.reshape(value.shape[0], -1).to_sparse_csr()
                value = torch.sparse_csr_tensor(csr.crow_indices().clone(), csr.col_indices().clone(),
                                                csr.values().clone(), csr.shape, check_invariants=False)
            state[key] = value
        buffer = io.BytesIO()
        torch.save(state, buffer)
        computed = sparsity_report(pruned)["sparse_size_mib"] * 2**20
        assert abs(computed - buffer.tell()) <= 1024 * len(names), (sparsity, computed, buffer.tell())
