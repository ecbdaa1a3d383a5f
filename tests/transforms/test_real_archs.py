"""Transforms on the architectures researchers bring (issue 12): a Conv1d + GRU + LayerNorm
classifier, an LSTM classifier, a transformer whose attention class is called ``Mixer`` and a
Conv1d + BatchNorm model (tests/transforms/archs.py). Each is pruned unstructured and structured
and quantized int8-dynamic; the output still has its shape, the coverage columns equal hand
counts, and the reports name what was skipped and why."""
import warnings

import pytest
import torch
from torch import nn

from lab.transforms import Unsupported, layer_support
from lab.transforms import quantize as q
from lab.transforms.find_attention import find_attention
from lab.transforms.prune import METHODS, coverage, nonzero_by_type, prune, sparsity_report
from lab.transforms.touched import CoverageWarning

from archs import ARCHS, GRU_W, LSTM_W, total

NAMES = sorted(ARCHS)


def run(name, method, sparsity, **kwargs):
    arch = ARCHS[name]
    model, x = arch.make(), arch.example()
    before = nonzero_by_type(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pruned = prune(model, method, sparsity, example_input=x, device="cpu", **kwargs)
        report = coverage(before, pruned)
    assert tuple(pruned(x).shape) == arch.out
    return pruned, report, [str(w.message) for w in caught]


def test_the_hand_counts_are_right():
    from lab.transforms.prune_report import _by_type
    for name, arch in ARCHS.items():
        elements, nonzero = _by_type(arch.make())
        assert elements == arch.counts == nonzero, name


# --- unstructured: recurrent and attention weights too ---------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_unstructured_half_zeros_every_prunable_weight(name):
    arch = ARCHS[name]
    pruned, report, caught = run(name, "unstructured", 0.5)
    weights = sum(arch.weights.values())  # every weight tensor here has an even number of elements
    assert report["params_removed_frac"] == pytest.approx((weights // 2) / total(arch.counts), abs=1e-12)
    assert report["pruned_by_type"] == pytest.approx(
        {kind: (arch.weights.get(kind, 0) // 2) / n for kind, n in arch.counts.items()}, abs=1e-12)
    assert report["params_touched_frac"] == weights / total(arch.counts)
    assert report["prune_coverage_low"] is False and not [c for c in caught if "touched" in c]
    assert sparsity_report(pruned)["sparsity_reached"] == 0.5


@pytest.mark.parametrize("name, skipped", [
    ("conv-gru", {"LayerNorm": METHODS["unstructured"].skips["norm"]}),
    ("lstm", {}),
    ("mixer-transformer", {"Embedding": METHODS["unstructured"].skips["embedding"],
                           "LayerNorm": METHODS["unstructured"].skips["norm"],
                           "TinyTransformer": METHODS["unstructured"].skips["other"]}),  # its position parameter
    ("conv-bn", {"BatchNorm1d": METHODS["unstructured"].skips["norm"]}),
])
def test_unstructured_names_the_layer_types_it_skipped_and_why(name, skipped):
    assert run(name, "unstructured", 0.5)[1]["prune_skipped"] == skipped


def test_the_gru_model_of_issue_12_is_pruned_where_its_parameters_are():
    # Before: only Conv1d and Linear were pruned, 7 % of the parameters zeroed while the row said 0.5.
    pruned, report, _ = run("conv-gru", "unstructured", 0.5)
    assert report["pruned_by_type"]["GRU"] == (GRU_W // 2) / ARCHS["conv-gru"].counts["GRU"]
    assert int((pruned.gru.weight_hh_l0 == 0).sum()) == 96 * 32 // 2
    assert pruned.gru._flat_weights[1] is pruned.gru.weight_hh_l0  # the RNN runs on the pruned tensor
    assert list(pruned.state_dict()) == list(ARCHS["conv-gru"].make().state_dict())


def test_leaving_the_gru_out_flags_the_row_and_warns():
    _, report, caught = run("conv-gru", "unstructured", 0.5, ignored_layers=["gru"])
    touched = (192 + 160) / total(ARCHS["conv-gru"].counts)  # the conv and head weights only
    assert report["params_touched_frac"] == touched and report["prune_coverage_low"] is True
    assert report["prune_skipped"]["GRU"] == "in ignored_layers"
    assert any(c.startswith("prune_method 'unstructured' at sparsity 0.5 touched 7% of the model's parameters")
               and "GRU: in ignored_layers" in c for c in caught)


def test_unstructured_prunes_multihead_attention_projections():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 5, 32)
    pruned = prune(layer, "unstructured", 0.5, device="cpu")
    assert int((pruned.self_attn.in_proj_weight == 0).sum()) == 3 * 32 * 32 // 2
    assert int((pruned.self_attn.out_proj.weight == 0).sum()) == 32 * 32 // 2
    with torch.inference_mode():  # the fast path reads in_proj_weight too
        assert pruned(x).shape == (2, 5, 32)


# --- structured: recurrent inputs, attention by structure, ignored_layers, one-line failures ---------

# (sparsity, {layer type: parameter elements after}) by hand; layers kept whole keep their counts.
STRUCTURED = {
    "conv-gru": (0.5, {"Conv1d": 4 * 8 * 3 + 8, "GRU": 4800 - 96 * 8, "LayerNorm": 64, "Linear": 165}),
    "lstm": (0.5, {"Linear": 8 * 8 + 8 + 100, "LSTM": 8832 - 96 * 8}),
    "mixer-transformer": (0.5, {"Embedding": 1600, "TinyTransformer": 224, "LayerNorm": 256,
                                "Linear": 16931 - 2 * (32 * 32 + 32 + 32 * 32)}),
    "conv-bn": (0.5, {"Conv1d": 2 * 8 * 5 + 8 + 8 * 16 * 3 + 16, "BatchNorm1d": 48, "Linear": 16 * 5 + 5}),
}


@pytest.mark.parametrize("name", NAMES)
def test_structured_shrinks_each_architecture_by_hand_counts(name):
    arch, (sparsity, after) = ARCHS[name], STRUCTURED[name]
    _, report, caught = run(name, "structured", sparsity)
    assert report["pruned_by_type"] == pytest.approx({k: 1 - after[k] / n for k, n in arch.counts.items()})
    assert report["params_removed_frac"] == pytest.approx(1 - total(after) / total(arch.counts))
    assert not [c for c in caught if "Unwrapped parameters" in c or "Unknown operation" in c]


@pytest.mark.parametrize("name, kinds", [
    ("conv-gru", {"GRU": "gru: hidden size kept", "Linear": "head: the output layer"}),
    ("lstm", {"LSTM": "lstm: hidden size kept", "Linear": "head: the output layer"}),
    ("mixer-transformer", {"Mixer": "blocks.0.mix, blocks.1.mix: attention (found by structure), kept whole",
                           "Linear": "head: the output layer"}),
    ("conv-bn", {"Linear": "head: the output layer"}),
])
def test_structured_names_what_it_kept_whole(name, kinds):
    skipped = run(name, "structured", 0.5)[1]["prune_skipped"]
    for kind, start in kinds.items():
        assert skipped[kind].startswith(start), (kind, skipped[kind])


def test_structured_keeps_a_renamed_attention_whole_and_prunes_its_mlp():
    pruned, _, _ = run("mixer-transformer", "structured", 0.5)
    for block in pruned.blocks:
        assert [p.out_features for p in (block.mix.q, block.mix.k, block.mix.v, block.mix.out)] == [32] * 4
        assert block.fc1.out_features == 32 and block.fc2.in_features == 32


class FusedQKV(nn.Module):
    """timm-style attention: one qkv Linear reshaped to (n, t, 3, heads, head_dim)."""

    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(n, t, d))


def test_find_attention_by_structure_fused_and_separate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), FusedQKV(), nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 4))
    found = find_attention(model, (torch.randn(2, 5, 8),))
    assert found.modules == [model[1]] and found.projections == [model[1].qkv, model[1].proj]
    mixer = ARCHS["mixer-transformer"].make()
    found = find_attention(mixer, (ARCHS["mixer-transformer"].example(),))
    assert found.modules == [mixer.blocks[0].mix, mixer.blocks[1].mix]
    assert len(found.projections) == 8  # q, k, v and out in each block; the MLPs are not attention


class HardCodedScale(nn.Module):
    """Multiplies by a fixed 32-wide buffer: torch-pruning can't know, so pruning its input breaks it."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 32))

    def forward(self, x):
        return x * self.scale


def test_structured_failure_names_the_layer_and_ignored_layers_fixes_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), HardCodedScale(), nn.ReLU(), nn.Linear(32, 4)).eval()
    x = torch.randn(3, 8)
    with pytest.raises(Unsupported) as info:
        prune(model, "structured", 0.5, example_input=x, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("structured pruning (torch-pruning) failed at layer '1' (HardCodedScale): "
                              "RuntimeError: The size of tensor a (16) must match")
    assert message.endswith("; to keep it whole, pass ignored_layers=['0']")  # the layer feeding it
    ignored = torch.nn.Sequential(nn.Linear(8, 32), HardCodedScale(), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                                  nn.Linear(16, 4)).eval()
    pruned = prune(ignored, "structured", 0.5, example_input=x, device="cpu", ignored_layers=["0"])
    assert pruned(x).shape == (3, 4) and pruned[0].out_features == 32 and pruned[3].out_features == 8


def test_ignored_layers_take_globs_and_refuse_unknown_names():
    arch = ARCHS["conv-bn"]
    pruned = prune(arch.make(), "structured", 0.5, example_input=arch.example(), device="cpu", ignored_layers=["?1"])
    assert (pruned.c1.out_channels, pruned.c2.out_channels) == (16, 16)  # c1 and b1 kept whole
    with pytest.raises(ValueError, match=r"^ignored_layers='conv9' is not allowed: it names no module"):
        prune(arch.make(), "unstructured", 0.5, device="cpu", ignored_layers=["conv9"])
    with pytest.raises(ValueError, match="not allowed with prune_method '2:4'"):
        prune(arch.make(), "2:4", 0.5, device="cpu", ignored_layers=["c1"])


def test_structured_declares_unwrapped_parameters_instead_of_printing():
    class Scaled(nn.Module):  # a learned per-channel gain and a scalar temperature: both free-standing
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 32), nn.Linear(32, 4)
            self.gain, self.temperature = nn.Parameter(torch.ones(32)), nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)) * self.gain) / self.temperature

    torch.manual_seed(0)
    model, x = Scaled().eval(), torch.randn(3, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pruned = prune(model, "structured", 0.5, example_input=x, device="cpu")
    assert not [w for w in caught if "Unwrapped" in str(w.message)]
    assert pruned.gain.shape == (32,) and pruned.fc1.out_features == 32  # kept whole with what it shares
    assert getattr(pruned, "lab_prune_report").skipped["Scaled"].startswith("(model): free-standing parameter(s) gain")


# --- int8-dynamic: GRU and LSTM too ----------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_int8_dynamic_quantizes_recurrent_layers_and_counts_them(name):
    arch = ARCHS[name]
    x = arch.example()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = q.quantize(arch.make(), "int8-dynamic", "cpu")
        with torch.inference_mode():
            assert tuple(model(x).shape) == arch.out
        report = q.coverage(model)
    assert report["quantized_frac"] == sum(arch.dynamic.values()) / total(arch.counts)
    assert report["quantized_by_type"] == {kind: arch.dynamic.get(kind, 0) / n for kind, n in arch.counts.items()}
    low = name == "conv-bn"  # only its 160-weight head is a Linear: 8 % of the model
    assert report["quant_coverage_low"] is low
    assert any(issubclass(w.category, CoverageWarning) for w in caught) is low


def test_int8_dynamic_recurrent_layers_are_torch_ao_modules_close_to_fp32():
    for name, kind, weights in (("conv-gru", "GRU", GRU_W), ("lstm", "LSTM", LSTM_W)):
        arch = ARCHS[name]
        base, x = arch.make(), arch.example()
        model = q.quantize(arch.make(), "int8-dynamic", "cpu")
        layer = next(m for m in model.modules() if type(m).__name__ == kind)
        assert type(layer).__module__ == "torch.ao.nn.quantized.dynamic.modules.rnn"
        with torch.inference_mode():
            torch.testing.assert_close(model(x), base(x), rtol=0.1, atol=0.05)


# --- what each scheme and method says it acts on --------------------------------------------------

def test_every_scheme_and_method_declares_its_layer_types():
    rows = layer_support.rows()
    assert [r["name"] for r in rows] == list(q.SCHEMES) + list(METHODS)
    assert all(r["layers"] and r["leaves"] for r in rows)
    assert {r["name"]: r["layers"] for r in rows}["int8-dynamic"] == "Linear, GRU, LSTM"
    assert "GRU" in METHODS["unstructured"].layer_types and "MultiheadAttention" in METHODS["random"].layer_types
    table = layer_support.markdown().splitlines()
    assert len(table) == 2 + len(rows) and table[0].startswith("| kind | name |")
