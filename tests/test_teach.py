"""lab.teach: the quantization and pruning teaching figures' arithmetic (checked by hand and against
torch's own ops) and their drawing on a real layer (digits-mlp)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lab.models import registry  # noqa: E402
from lab.teach import pruning, quantization  # noqa: E402


@pytest.fixture(scope="module")
def layers():
    net = registry.get("digits-mlp").build().net
    return net[0].weight.detach().clone(), net[2].weight.detach().clone()  # 1024x64, 1024x1024


@pytest.fixture
def ax():
    fig, ax = plt.subplots(figsize=(8, 4))
    yield ax
    plt.close(fig)


# --- quantization: the arithmetic -----------------------------------------------------------------------

W = torch.tensor([[0.70, -0.33, 0.12, 0.00],
                  [-0.06, 0.26, -0.70, 0.44]])


def test_error_equals_a_hand_computation_int4_symmetric_per_tensor():
    # 4 bits, symmetric: integers -8..7; scale = max|w| / 7 = 0.7 / 7 = 0.1; zero-point 0.
    scale, zero_point = quantization.affine_params(W, 4, symmetric=True, per_channel=False)
    assert float(scale) == pytest.approx(0.1) and int(zero_point) == 0
    # w / scale = [7, -3.3, 1.2, 0 | -0.6, 2.6, -7, 4.4] -> rounded [7, -3, 1, 0 | -1, 3, -7, 4]
    q, _, _ = quantization.integers(W, 4, symmetric=True, per_channel=False)
    assert q.tolist() == [[7, -3, 1, 0], [-1, 3, -7, 4]]
    by_hand = torch.tensor([[0.7, -0.3, 0.1, 0.0], [-0.1, 0.3, -0.7, 0.4]])
    assert torch.allclose(quantization.fake_quantize(W, 4, symmetric=True, per_channel=False), by_hand, atol=1e-6)
    # |error| row 0: [0, .03, .02, 0] -> mean .0125, max .03; row 1: [.04, .04, 0, .04] -> mean .03, max .04
    err = quantization.quant_error(W, 4, symmetric=True, per_channel=False)
    assert err.mean_abs.tolist() == pytest.approx([0.0125, 0.03], abs=1e-6)
    assert err.max_abs.tolist() == pytest.approx([0.03, 0.04], abs=1e-6)
    assert err.clipped == 0.0


def test_asymmetric_params_by_hand():
    # 2 bits asymmetric per channel: integers 0..3, scale = (max - min) / 3, zero-point = -round(min / scale):
    # row 0's range [-0.33, 0.70]: scale 1.03 / 3, zero-point -round(-0.961) = 1;
    # row 1's range [-0.70, 0.44]: scale 1.14 / 3, zero-point -round(-1.842) = 2
    scale, zero_point = quantization.affine_params(W, 2, symmetric=False, per_channel=True)
    assert scale.tolist() == pytest.approx([1.03 / 3, 1.14 / 3]) and zero_point.tolist() == [1, 2]


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("percentile", [100.0, 99.0])
def test_hand_path_agrees_with_torch_fake_quantize(layers, bits, symmetric, per_channel, percentile):
    w = layers[0]
    kwargs = dict(symmetric=symmetric, per_channel=per_channel, percentile=percentile)
    q, scale, zero_point = quantization.integers(w, bits, **kwargs)
    qmin, qmax = quantization.qrange(bits, symmetric)
    assert q.min() >= qmin and q.max() <= qmax
    by_hand = (q - quantization._per_row(zero_point, w)) * quantization._per_row(scale, w)
    if per_channel:
        theirs = torch.fake_quantize_per_channel_affine(w, scale, zero_point, 0, qmin, qmax)
    else:
        theirs = torch.fake_quantize_per_tensor_affine(w, scale, zero_point, qmin, qmax)
    assert torch.equal(quantization.fake_quantize(w, bits, **kwargs), theirs)
    assert torch.allclose(by_hand, theirs, rtol=0, atol=1e-7)


def test_clipping_below_the_full_range(layers):
    w = layers[0]
    assert quantization.quant_error(w, 8, percentile=100).clipped == 0.0
    clipped = quantization.quant_error(w, 8, percentile=99).clipped
    assert 0.005 < clipped < 0.015  # about the 1 % of |w| beyond the 99th percentile
    q, _, _ = quantization.integers(w, 8, percentile=99)
    assert (q == 127).sum() + (q == -128).sum() >= clipped * w.numel()  # clipped ones sit on the ends


def test_per_channel_error_at_most_per_tensor_on_a_real_layer(layers):
    w = layers[0]  # digits-mlp's first Linear
    for bits in (4, 8):
        tensor = quantization.quant_error(w, bits, per_channel=False)
        channel = quantization.quant_error(w, bits, per_channel=True)
        assert channel.mean_abs.mean() < tensor.mean_abs.mean()
        assert (channel.mean_abs <= tensor.mean_abs).float().mean() > 0.95  # rounding luck may flip a few rows
        scale, _ = quantization.affine_params(w, bits, per_channel=True)
        # no clipping at min/max: every error is at most half a step of its own channel's grid, and
        # each channel's step is at most the per-tensor one
        assert (channel.max_abs <= scale / 2 + 1e-7).all()
        assert channel.max_abs.max() <= tensor.max_abs.max() + 1e-7


# --- pruning: the masks ------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9, 0.999])
def test_unstructured_zeroes_exactly_round_s_n(layers, sparsity):
    w = layers[0]
    keep = pruning.masks(w, sparsity)["unstructured"]
    assert keep.shape == w.shape and keep.dtype == torch.bool
    assert int((~keep).sum()) == round(sparsity * w.numel())
    if 0 < sparsity:  # the smallest magnitudes went
        assert w[~keep].abs().max() <= w[keep].abs().min()


def test_unstructured_exact_even_with_ties():
    w = torch.zeros(4, 8)  # every |w| ties
    assert int((~pruning.masks(w, 0.3)["unstructured"]).sum()) == round(0.3 * 32)


def test_two_four_keeps_exactly_two_of_every_four_the_largest(layers):
    w = layers[1]
    keep = pruning.masks(w, 0.2)["2:4"]  # fixed at half, whatever sparsity says
    groups = keep.reshape(w.shape[0], -1, 4)
    assert (groups.sum(dim=2) == 2).all()
    mags = w.abs().reshape(w.shape[0], -1, 4)
    kept_min = torch.where(groups, mags, torch.inf).amin(dim=2)
    removed_max = torch.where(groups, -torch.inf, mags).amax(dim=2)
    assert (removed_max <= kept_min).all()


def test_channel_mask_removes_whole_rows_of_smallest_norm(layers):
    w = layers[0]
    keep = pruning.masks(w, 0.25)["channels"]
    rows_kept = keep.all(dim=1)
    assert (keep.all(dim=1) | (~keep).all(dim=1)).all()  # each row all kept or all removed
    assert int((~rows_kept).sum()) == round(0.25 * w.shape[0])
    norms = w.norm(dim=1)
    assert norms[~rows_kept].max() <= norms[rows_kept].min()


# --- the figures, on a real layer --------------------------------------------------------------------


@pytest.mark.parametrize("bits,legend", [(4, "all 16 levels"), (8, "every 8th of 256 levels")])
def test_draw_grid(layers, ax, bits, legend):
    out = quantization.draw_grid(ax, layers[0], bits)
    assert out is ax
    assert ax.get_xlabel() == "weight value (real number, as stored in fp32)"
    assert ax.get_ylabel() == "weights (count)"
    scale, _ = quantization.affine_params(layers[0], bits)
    assert f"int{bits} symmetric, per-tensor" in ax.get_title()
    assert f"scale = {float(scale):.4g}" in ax.get_title() and "zero-point = 0" in ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"grid: {legend}" in texts
    assert len([line for line in ax.lines if line.get_linewidth() == 0.8]) == (16 if bits == 4 else 32)


def test_draw_grid_per_channel_shows_one_channel_and_clipping(layers, ax):
    quantization.draw_grid(ax, layers[0], 4, symmetric=False, per_channel=True, percentile=99, channel=3)
    scale, zero_point = quantization.affine_params(layers[0], 4, symmetric=False, per_channel=True, percentile=99)
    assert ax.get_title().startswith("Output channel 3 under the int4 asymmetric, per-channel grid")
    assert f"scale = {float(scale[3]):.4g}" in ax.get_title() and f"zero-point = {int(zero_point[3])}" in ax.get_title()
    assert ax.get_ylabel() == "weights (count)"


def test_draw_channel_error(layers, ax):
    quantization.draw_channel_error(ax, layers[0], 4)
    assert ax.get_xlabel() == "output channel, sorted by its weight range (rank)"
    assert ax.get_ylabel() == "|quantized - original| (weight units)"
    assert "int4 symmetric rounding and clipping error per output channel" in ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t.split(":")[0] for t in texts] == ["per-tensor", "per-tensor", "per-channel", "per-channel"]
    assert len(ax.lines) == 4 and all(len(line.get_xdata()) == layers[0].shape[0] for line in ax.lines)


def test_draw_masks(layers):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    try:
        pruning.draw_masks(axes, layers[1], 0.5)
        titles = [a.get_title() for a in axes]
        assert titles[0].startswith("unstructured") and titles[1].startswith("2:4") and titles[2].startswith("channels")
        assert all("50.0 % of the layer's weights removed" in t for t in titles)
        for a in axes:
            assert a.get_xlabel() == "input (column; first 32 of 1024)"
            assert a.get_ylabel() == "output channel (row; first 16 of 1024)"
            assert a.images[0].get_array().shape == (16, 32)
    finally:
        plt.close(fig)


def test_draw_histograms(layers, ax):
    w = layers[1]
    keep = pruning.masks(w, 0.5)["unstructured"]
    pruning.draw_histograms(ax, w, keep)
    assert ax.get_xlabel() == "weight value (real number, as stored in fp32)"
    assert ax.get_ylabel() == "weights (count)"
    assert ax.get_title() == "Weights before and after pruning: 50.0 % removed"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "before: all 1,048,576 weights" and texts[1].startswith("after: 524,288 kept")


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,field,allowed", [
    (lambda w: quantization.fake_quantize(w, 1), "bits=1", "from 2 to 16"),
    (lambda w: quantization.affine_params(w, 17), "bits=17", "from 2 to 16"),
    (lambda w: quantization.quant_error(w, 4.0), "bits=4.0", "whole number"),
    (lambda w: quantization.draw_grid(None, w, 1), "bits=1", "from 2 to 16"),
    (lambda w: quantization.draw_channel_error(None, w, 17), "bits=17", "from 2 to 16"),
    (lambda w: quantization.fake_quantize(w, 8, percentile=30), "percentile=30", "above 50 and up to 100"),
    (lambda w: pruning.masks(w, 1.5), "sparsity=1.5", "from 0 up to (not including) 1"),
    (lambda w: pruning.masks(w, -0.1), "sparsity=-0.1", "from 0 up to (not including) 1"),
    (lambda w: pruning.draw_masks([None] * 3, w, 1.5), "sparsity=1.5", "from 0 up to (not including) 1"),
    (lambda w: pruning.masks(w[:, :6], 0.5), "weight=(1024, 6)", "multiple of 4"),
    (lambda w: pruning.draw_histograms(None, w, torch.ones(3, dtype=torch.bool)), "mask=(3,)", "boolean keep-mask"),
])
def test_bad_input_raises_one_line_value_error(layers, call, field, allowed):
    w = layers[0]
    with pytest.raises(ValueError) as info:
        call(w)
    message = str(info.value)
    assert "\n" not in message and field in message and allowed in message
