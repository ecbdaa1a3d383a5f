import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lab import plots  # noqa: E402
from lab.dashboard.figure import dashboard_figure  # noqa: E402

UNIT = re.compile(r"\(.+\)")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rows(quants=("fp32", "bf16"), batches=(1, 8, 64), metric="accuracy", source="estimate"):
    out = []
    for k, quant in enumerate(quants, start=1):
        for b in batches:
            lat = 0.1 * k * b
            out.append(dict(model="digits-mlp", quant=quant, prune_method="none", sparsity=0.0, batch_size=b,
                            device="cpu", threads=2, compile=False, config_id=f"{quant}-{b}",
                            latency_ms_p50=lat, latency_ms_p90=1.1 * lat, latency_ms_p99=1.3 * lat,
                            throughput_sps=b / lat * 1e3, peak_mem_mib=0.5 * b, energy_mj_per_sample=k / b,
                            energy_source=source, accuracy=1.0 - 0.01 * k, metric=metric, error=None))
    return pd.DataFrame(out)


def with_error(df):
    bad = {"model": "digits-mlp", "quant": "fp8", "batch_size": 1, "config_id": "fp8-1",
           "error": "unsupported: fp8 needs CUDA"}
    return pd.concat([df, pd.DataFrame([bad])], ignore_index=True)


BATCH_PLOTS = [plots.latency_vs_batch, plots.throughput_vs_batch, plots.memory_vs_batch, plots.energy_vs_batch]


@pytest.mark.parametrize("plot", BATCH_PLOTS + [plots.tradeoff])
@pytest.mark.parametrize("data", ["rows", "error rows", "only errors", "empty"])
def test_every_plot_returns_labelled_axes_with_units(plot, data):
    df = {"rows": rows(), "error rows": with_error(rows()), "only errors": with_error(rows()).tail(1),
          "empty": pd.DataFrame()}[data]
    ax = plot(df)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert UNIT.search(ax.get_xlabel()), ax.get_xlabel()
    assert UNIT.search(ax.get_ylabel()), ax.get_ylabel()
    if data in ("only errors", "empty"):
        assert [t.get_text() for t in ax.texts] == ["no points yet"]


@pytest.mark.parametrize("plot", BATCH_PLOTS)
def test_batch_plots_draw_one_line_per_hue_and_skip_error_rows(plot):
    ax = plot(with_error(rows()))
    assert [line.get_label() for line in ax.lines] == ["quant=fp32", "quant=bf16"]
    assert all(list(line.get_xdata()) == [1, 8, 64] for line in ax.lines)
    assert ax.get_xscale() == "log"


def test_latency_band_is_p90_to_p99():
    ax = plots.latency_vs_batch(rows(quants=("fp32",)))
    (band,) = ax.patches
    ys = band.get_xy()[:, 1]
    assert ys.min() == pytest.approx(1.1 * 0.1) and ys.max() == pytest.approx(1.3 * 0.1 * 64)


def test_energy_axis_names_the_source_and_quality_axis_the_metric():
    assert "estimate" in plots.energy_vs_batch(rows()).get_ylabel()
    assert "rapl" in plots.energy_vs_batch(rows(source="rapl")).get_ylabel()
    ax = plots.tradeoff(rows(metric="embedding_cosine"), x="energy_mj_per_sample")
    assert ax.get_ylabel().startswith("embedding_cosine (")
    assert "estimate" in ax.get_xlabel() and "mJ" in ax.get_xlabel()
    assert plots.tradeoff(rows()).get_ylabel().startswith("accuracy (")


def test_tradeoff_draws_the_pareto_front_and_rings_the_current_point():
    df = rows(batches=(1,))                     # fp32: 0.1 ms, 0.99; bf16: 0.2 ms, 0.98 -> dominated
    df = pd.concat([df, df.iloc[[0]].assign(config_id="slow-good", latency_ms_p50=5.0, accuracy=0.999)])
    ax = plots.tradeoff(df, current="bf16-1")
    (front,) = [line for line in ax.lines if line.get_label() == "Pareto front"]
    assert list(front.get_xdata()) == [0.1, 5.0] and list(front.get_ydata()) == [0.99, 0.999]
    (star,) = [c for c in ax.collections if c.get_label() == "current"]
    assert star.get_offsets().tolist() == [[pytest.approx(0.2), pytest.approx(0.98)]]


def test_series_labels_name_only_what_varies():
    df = rows()
    assert set(plots.series(df)) == {"fp32", "bf16"}
    assert set(plots.series(df[df["quant"] == "fp32"])) == {"digits-mlp"}
    pruned = df.assign(prune_method=["none"] * 3 + ["unstructured"] * 3, sparsity=[0.0] * 3 + [0.5] * 3)
    assert set(plots.series(pruned)) == {"dense · fp32", "unstructured · sparsity 0.5 · bf16"}


def test_dashboard_figure_seven_panels_redrawn_in_place_same_image():
    df = with_error(rows())
    fig = dashboard_figure(df, current=["bf16-1", "bf16-8", "bf16-64"])
    assert len(fig.axes) == 7
    for ax in fig.axes:
        assert UNIT.search(ax.get_xlabel()) and UNIT.search(ax.get_ylabel())
    assert fig.axes[4].get_title(loc="right") == "at batch size 1"   # the current selection's smallest
    again = dashboard_figure(df.head(2), current=None, fig=fig)  # reuse: cleared, then redrawn
    assert again is fig
    again = dashboard_figure(df, current=["bf16-1", "bf16-8", "bf16-64"], fig=fig)
    fresh = dashboard_figure(df, current=["bf16-1", "bf16-8", "bf16-64"])
    assert plots.to_bytes(again) == plots.to_bytes(fresh)
    assert plots.to_bytes(dashboard_figure(pd.DataFrame()), "svg").lstrip().startswith(b"<?xml")


def roofline_rows():
    # fp32: peak 100 GFLOP/s; bf16: 400; bandwidth 20 GB/s (ridges at 5 and 20 FLOP/byte)
    out = []
    for quant, peak in (("fp32", 100.0), ("bf16", 400.0)):
        for b, intensity in ((1, 0.5), (64, 30.0)):
            out.append(dict(model="digits-mlp", quant=quant, batch_size=b, config_id=f"{quant}-{b}", error=None,
                            arithmetic_intensity=intensity, achieved_gflops=min(peak, 20 * intensity) / 2,
                            peak_gflops=peak, bandwidth_gbs=20.0))
    return pd.DataFrame(out)


def test_roofline_draws_points_roofs_and_log_axes_with_units():
    ax = plots.roofline(with_error(roofline_rows()), current="bf16-64")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOP/byte" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
    points = [c for c in ax.collections if c.get_label().startswith("quant=")]
    assert [c.get_label() for c in points] == ["quant=fp32", "quant=bf16"]
    assert sum(len(c.get_offsets()) for c in points) == 4  # the error row is left out
    roofs = [line for line in ax.lines if line.get_gid() == plots.ROOF_GID]
    assert [line.get_label() for line in roofs] == ["memory roof 20 GB/s", "fp32 peak 100 GFLOP/s",
                                                    "bf16 peak 400 GFLOP/s"]
    assert list(roofs[1].get_xdata())[0] == pytest.approx(5.0)   # the fp32 roof starts at its ridge point
    assert list(roofs[2].get_ydata()) == [400.0, 400.0]
    (star,) = [c for c in ax.collections if c.get_label() == "current"]
    assert star.get_offsets().tolist() == [[30.0, 200.0]]


@pytest.mark.parametrize("df", [pd.DataFrame(), rows(),
                                roofline_rows().assign(arithmetic_intensity=None, achieved_gflops=None)])
def test_roofline_empty_state_when_columns_missing(df):
    ax = plots.roofline(df)
    assert [t.get_text() for t in ax.texts] == ["no points yet"]
    assert UNIT.search(ax.get_xlabel()) and UNIT.search(ax.get_ylabel())
    assert not [line for line in ax.lines if line.get_gid() == plots.ROOF_GID]


def test_roofline_points_without_ceilings_draw_no_roofs():
    ax = plots.roofline(roofline_rows().drop(columns=["peak_gflops", "bandwidth_gbs"]))
    assert sum(len(c.get_offsets()) for c in ax.collections if c.get_label().startswith("quant=")) == 4
    assert not [line for line in ax.lines if line.get_gid() == plots.ROOF_GID]
