"""Paper figures: deterministic SVG, a sidecar per figure with the rows drawn, skips with reasons."""
import json
import re

import pandas as pd
import pytest
from paper_rows import make_rows, make_sensitivity
from matplotlib.figure import Figure

from lab import plots
from lab.paper import data, figures, paper_style, write_figures
from lab.paper.style import DOUBLE_COLUMN, SINGLE_COLUMN, figsize

PROVENANCE = {"query": "quant != 'fp16'", "manifest": {"name": "synthetic", "row_ids": [1, 2, 3]},
              "study_file": "study.toml", "lab_version": "9.9.9", "git_sha": "abc123"}
ROW_FIGURES = ("latency-throughput", "accuracy-latency", "accuracy-energy", "energy-by-scheme")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def svg_only(df, out, **kwargs):
    kwargs.setdefault("sizes", ("single",))
    return write_figures(df, out, provenance=PROVENANCE, formats=("svg",), **kwargs)


def written(entries):
    return {(e["figure"], e["size"]) for e in entries if e["kind"] == "figure" and not e["skipped"]}


def skipped(entries):
    return {e["figure"]: e["skipped"] for e in entries if e["skipped"]}


def test_svg_and_sidecars_are_byte_identical_when_written_twice(tmp_path, rows, sensitivity):
    first = svg_only(rows, tmp_path / "a", sensitivity=sensitivity, sizes=("single", "double"))
    # The same rows in another order are the same data: same bytes.
    svg_only(rows.sample(frac=1, random_state=3), tmp_path / "b", sensitivity=sensitivity, sizes=("single", "double"))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len([n for n in names if n.endswith(".svg")]) == 2 * (len(ROW_FIGURES) + 1)  # + sensitivity
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert len(written(first)) == 10


def test_svg_has_fixed_metadata_and_no_date(tmp_path, rows):
    svg_only(rows, tmp_path)
    text = (tmp_path / "accuracy-latency-single.svg").read_text()
    assert "Efficiency Lab" in text
    assert "<dc:date>" not in text and not DATE.search(text)
    assert 'width="252pt"' in text  # 3.5 in = 252 pt: exactly the column width, no tight cropping


def test_every_figure_has_its_sidecar_with_the_rows_drawn(tmp_path, rows):
    entries = svg_only(rows, tmp_path)
    measured = rows[rows["error"].isna()]
    batch1 = sorted(measured.loc[measured["batch_size"] == 1, "id"].astype(int))
    failed_id = int(rows.loc[rows["error"].notna(), "id"].iloc[0])
    for figure, size in written(entries):
        card = json.loads((tmp_path / f"{figure}-{size}.json").read_text())
        assert card["figure"] == figure and card["size"] == size
        assert card["files"] == [f"{figure}-{size}.svg"]
        assert card["query"] == PROVENANCE["query"] and card["manifest"] == PROVENANCE["manifest"]
        assert card["study_file"] == "study.toml"
        assert (card["lab_version"], card["git_sha"]) == ("9.9.9", "abc123")
        assert card["columns"] and all(isinstance(c, str) for c in card["columns"])
        assert card["row_ids"] == sorted(card["row_ids"]) and failed_id not in card["row_ids"]
        assert not any(k.endswith("_at") or "time" in k or "date" in k for k in card)
        assert not DATE.search(json.dumps(card))
    lat = json.loads((tmp_path / "latency-throughput-single.json").read_text())
    assert lat["row_ids"] == sorted(measured["id"].astype(int))  # every batch size
    for name in ("accuracy-latency", "accuracy-energy", "energy-by-scheme"):  # one batch size: the smallest
        assert json.loads((tmp_path / f"{name}-single.json").read_text())["row_ids"] == batch1


def test_sidecar_is_sorted_json_and_fills_version_and_sha(tmp_path, rows):
    write_figures(rows, tmp_path, provenance={"query": None}, formats=("svg",), sizes=("single",))
    text = (tmp_path / "latency-throughput-single.json").read_text()
    card = json.loads(text)
    assert list(card) == sorted(card)
    assert card["lab_version"] == __import__("lab").__version__
    assert card["git_sha"] and card["manifest"] is None and card["query"] is None


def test_pdf_and_png_written_at_300_dpi_without_varying_metadata(tmp_path, rows):
    from PIL import Image

    entries = write_figures(rows, tmp_path, provenance=PROVENANCE, sizes=("single",))
    assert written(entries) == {(f, "single") for f in ROW_FIGURES}
    write_figures(rows, tmp_path / "again", provenance=PROVENANCE, sizes=("single",), formats=("pdf",))
    for figure in ROW_FIGURES:  # no creation date: PDFs are reproducible too
        name = f"{figure}-single.pdf"
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    for figure in ROW_FIGURES:
        for fmt in ("pdf", "svg", "png"):
            assert (tmp_path / f"{figure}-single.{fmt}").stat().st_size > 1000
    pdf = (tmp_path / "energy-by-scheme-single.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf and b"Efficiency Lab" in pdf
    with Image.open(tmp_path / "energy-by-scheme-single.png") as png:
        assert png.size[0] == round(SINGLE_COLUMN * 300)
        assert round(png.info["dpi"][0]) == 300
        assert "Software" not in png.info


def test_figures_with_missing_columns_are_skipped_with_a_reason(tmp_path, rows):
    bare = rows.drop(columns=["energy_mj_per_sample", "energy_source"])
    entries = svg_only(bare, tmp_path)
    reasons = skipped(entries)
    assert "energy_mj_per_sample" in reasons["accuracy-energy"]
    assert "energy_mj_per_sample" in reasons["energy-by-scheme"]
    assert "sensitivity" in reasons["sensitivity"]
    assert "roofline" in reasons  # no roofline columns (or no plots.roofline yet)
    assert not (tmp_path / "accuracy-energy-single.svg").exists()
    assert (tmp_path / "latency-throughput-single.svg").exists()
    index = json.loads((tmp_path / "index.json").read_text())
    assert {s["figure"]: s["reason"] for s in index["skipped"]} == reasons
    assert "accuracy-energy" in (tmp_path / "index.md").read_text()


def test_only_failed_rows_skips_every_figure_without_crashing(tmp_path, rows):
    entries = svg_only(rows[rows["error"].notna()], tmp_path)
    assert not written(entries)
    assert all("no measured rows" in skipped(entries)[f] for f in ROW_FIGURES)


def test_roofline_is_drawn_with_lab_plots_roofline_when_present(tmp_path, monkeypatch):
    calls = []

    def fake_roofline(df, ax=None, hue="quant", current=None):
        calls.append(sorted(df["id"]))
        ax.loglog(df["arithmetic_intensity"], df["achieved_gflops"], "o")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("achieved (GFLOP/s)")
        return ax

    monkeypatch.setattr(plots, "roofline", fake_roofline, raising=False)
    df = make_rows(roofline=True)
    entries = svg_only(df, tmp_path)
    assert ("roofline", "single") in written(entries)
    card = json.loads((tmp_path / "roofline-single.json").read_text())
    assert calls and card["row_ids"] == calls[0] and len(card["row_ids"]) == df["error"].isna().sum()


def test_a_failing_roofline_is_skipped_not_raised(tmp_path, monkeypatch):
    def broken(df, ax=None, hue="quant", current=None):
        raise ValueError("peak_gflops must be positive")

    monkeypatch.setattr(plots, "roofline", broken, raising=False)
    reasons = skipped(svg_only(make_rows(roofline=True), tmp_path))
    assert "peak_gflops must be positive" in reasons["roofline"]


def test_sensitivity_figure_one_line_per_layer(sensitivity):
    with paper_style():
        fig = Figure(figsize=figsize("single"))
        drawn = figures.sensitivity_scan(sensitivity, fig)
    ax = fig.axes[0]
    assert sorted(line.get_label() for line in ax.get_lines()) == ["fc1", "fc2", "head"]
    assert len(drawn) == len(sensitivity["digits-mlp"])
    assert "(" in ax.get_xlabel() and "(" in ax.get_ylabel()


def _axes_of_every_figure(rows, colour_of):
    with paper_style():
        fig = Figure()
        figures.batch_panels(rows, fig, colour_of=colour_of)
        axes = list(fig.axes)
        for draw in (lambda ax: figures.accuracy_tradeoff(rows, ax, colour_of=colour_of),
                     lambda ax: figures.accuracy_tradeoff(rows, ax, "energy_mj_per_sample", colour_of=colour_of),
                     lambda ax: figures.energy_by_scheme(rows, ax, colour_of=colour_of)):
            ax = Figure().subplots()
            draw(ax)
            axes.append(ax)
    return axes


def test_units_on_every_axis(rows):
    for ax in _axes_of_every_figure(rows, data.scheme_colours(rows)):
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert re.search(r"\(.+\)", label), label
    energy_axis = _axes_of_every_figure(rows, None)[-1].get_ylabel()
    assert energy_axis == "energy per sample (mJ, estimate)"


def test_a_scheme_has_the_same_colour_in_every_figure(rows):
    from matplotlib.colors import to_rgb

    colour_of = data.scheme_colours(rows)
    # the baseline first, then the registry's order (fp8 is declared), then names it does not know
    assert list(colour_of) == ["fp32", "bf16", "fp8", "int8_dynamic"]
    subset = rows[rows["quant"] != "bf16"]  # a figure missing a scheme must not shift the others' colours
    latency, _, _, _, energy = _axes_of_every_figure(subset, colour_of)
    line = next(li for li in latency.get_lines() if li.get_label() == "int8_dynamic")
    bar = energy.patches[[t.get_text() for t in energy.get_xticklabels()].index("int8_dynamic")]
    assert to_rgb(line.get_color()) == to_rgb(colour_of["int8_dynamic"]) == to_rgb(bar.get_facecolor())


def test_pareto_front_staircase_leaves_out_the_dominated_scheme():
    df = make_rows(schemes=("fp32", "bf16"))
    slow = make_rows(schemes=("fp16",)).query("error.isna()", engine="python").assign(
        latency_ms_p50=lambda d: d["latency_ms_p50"] * 10, accuracy=0.5, config_id=lambda d: "slow-" + d["config_id"],
        id=lambda d: d["id"] + 1000)
    df = pd.concat([df, slow], ignore_index=True)
    with paper_style():
        ax = Figure().subplots()
        figures.accuracy_tradeoff(df, ax, colour_of=data.scheme_colours(df))
    dashed = [li for li in ax.get_lines() if li.get_linestyle() == "--"]
    assert len(dashed) == 1
    front_x = set(dashed[0].get_xdata())
    medians = df[(df["batch_size"] == 1) & df["error"].isna()].groupby("quant")["latency_ms_p50"].median()
    assert front_x == {medians["fp32"], medians["bf16"]}


def test_bands_span_the_repeats(rows):
    agg = data.aggregate(data.ok_rows(rows), ["latency_ms_p50"])
    one = rows[(rows["config_id"] == "fp32-b16")]["latency_ms_p50"]
    got = agg[agg["_config"] == "fp32-b16"].iloc[0]
    assert (got["latency_ms_p50"], got["latency_ms_p50_lo"], got["latency_ms_p50_hi"]) == \
        (one.median(), one.min(), one.max())
    assert got["repeats"] == 3 and got["ids"] == sorted(rows.loc[one.index, "id"])


def test_sizes_are_column_widths():
    assert 3.33 <= figsize("single")[0] <= 3.5 and 7.0 <= figsize("double", panels=2)[0] <= 7.16
    assert DOUBLE_COLUMN == figsize("double")[0]
    with pytest.raises(ValueError, match="size="):
        figsize("poster")


def test_bad_sizes_or_formats_name_the_field(tmp_path, rows):
    with pytest.raises(ValueError, match="formats="):
        write_figures(rows, tmp_path, provenance={}, formats=("eps",))
    with pytest.raises(ValueError, match="sizes="):
        write_figures(rows, tmp_path, provenance={}, sizes=("a4",))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="out_dir=.*writable"):
        write_figures(rows, tmp_path / "a-file", provenance={})


def test_paper_style_restores_rcparams():
    import matplotlib as mpl

    before = mpl.rcParams["svg.hashsalt"], mpl.rcParams["font.size"]
    with paper_style():
        assert mpl.rcParams["svg.hashsalt"] and mpl.rcParams["svg.fonttype"] == "path"
        assert mpl.rcParams["font.sans-serif"] == ["DejaVu Sans"]
    assert (mpl.rcParams["svg.hashsalt"], mpl.rcParams["font.size"]) == before


def test_sensitivity_needs_no_rows_of_the_store(tmp_path):
    entries = svg_only(make_rows(), tmp_path, sensitivity=make_sensitivity())
    assert ("sensitivity", "single") in written(entries)
    assert json.loads((tmp_path / "sensitivity-single.json").read_text())["row_ids"] == []


def test_an_interval_already_in_the_rows_is_kept(rows):
    """Rows summarized by lab.summary (one per configuration, <value>_lo/_hi) keep their interval."""
    one = data.ok_rows(rows).groupby("config_id", as_index=False).first()
    one = one.assign(latency_ms_p50_lo=one["latency_ms_p50"] - 1, latency_ms_p50_hi=one["latency_ms_p50"] + 2)
    agg = data.aggregate(one, ["latency_ms_p50"])
    assert (agg["latency_ms_p50_hi"] - agg["latency_ms_p50_lo"]).round(9).eq(3).all()
    assert (agg["repeats"] == 1).all()


def test_configurations_differing_only_in_seed_are_pooled_per_point():
    df = pd.concat([make_rows(schemes=("fp32",)).assign(seed=s, config_id=lambda d, s=s: d["config_id"] + f"-s{s}",
                                                        id=lambda d, s=s: d["id"] + 100 * s) for s in (0, 1)],
                   ignore_index=True)
    with paper_style():
        fig = Figure()
        figures.batch_panels(df, fig)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 1 and list(lines[0].get_xdata()) == [1, 4, 16, 64]  # one line, no zig-zag
