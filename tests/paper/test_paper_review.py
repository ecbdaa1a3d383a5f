"""Figures a reviewer accepts: no clipped text and no legend on the data at either column width,
distinct series, small multiples past five series, the baseline first, nothing failed or left out
without a word, budgets never pooled, byte-identical output whatever subset of formats."""
import json

import pandas as pd
import pytest
from matplotlib.figure import Figure
from paper_rows import make_budget_rows, make_many_rows, make_rows, make_sensitivity

from lab.paper import checks, data, paper_style, results_table, to_latex, write, write_figures
from lab.paper.style import SIZES

DATASETS = {"few": lambda: make_rows(roofline=True), "many": make_many_rows}


def rendered(df, sensitivity=None):
    """(figure name, size, Figure) for every figure that can be drawn from ``df``, at both widths."""
    ctx = write.context(df, sensitivity=sensitivity)
    with paper_style():
        for spec in write.FIGURES:
            if spec.needs(ctx):
                continue
            for size in SIZES:
                yield spec.name, size, write.render(spec, size, ctx)[0]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_every_figure_at_both_widths_keeps_its_text_inside_and_its_legends_off_the_data(dataset):
    seen = set()
    for name, size, fig in rendered(DATASETS[dataset](), make_sensitivity()):
        seen.add(name)
        r = fig.canvas.get_renderer()
        canvas = fig.bbox
        for ax in fig.axes:  # the labels a reviewer reads first, measured as rendered
            for label in (ax.xaxis.label, ax.yaxis.label):
                box = label.get_window_extent(r)
                assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1 + 0.5 and canvas.y0 <= box.y0 \
                    and box.y1 <= canvas.y1 + 0.5, (name, size, label.get_text())
        assert checks.text_outside(fig) == [], (name, size)
        assert checks.legends_over_data(fig) == [], (name, size)
        assert checks.legends_too_tall(fig) == [], (name, size)
    assert seen == set(write.NAMES)


def test_the_checks_find_clipped_text_a_legend_on_the_data_and_a_tall_legend():
    with paper_style():
        fig = Figure(figsize=(3.5, 2.5))
        ax = fig.subplots()
        ax.plot([0, 1, 2], [0, 1, 2], "o", label="points")
        ax.legend(loc="center")  # on the middle point
        ax.set_ylabel("batch latency p50 (ms)")
        fig.text(0.9, 0.5, "a note running off the right edge")
        problems = checks.problems(fig)
    assert any("outside the canvas" in p for p in problems)
    assert any("legend over 1 data point" in p for p in problems)
    with paper_style():
        fig = Figure(figsize=(3.5, 1.6))
        ax = fig.subplots()
        ax.bar([0, 1], [1, 2])
        ax.legend(handles=[ax.patches[0]] * 12, labels=[f"s{i}" for i in range(12)], loc="upper left")
        problems = checks.problems(fig)
    assert any("bar" in p for p in problems) and any("tall" in p for p in problems)


def _series_looks(ax):
    return {(line.get_label(), str(line.get_color()), line.get_marker(), str(line.get_linestyle()))
            for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_no_two_series_look_alike_and_many_series_become_one_panel_per_model():
    figs = {(name, size): fig for name, size, fig in rendered(make_many_rows())}
    fig = figs[("latency-throughput", "double")]
    assert len(fig.axes) == 4  # a row of latency and throughput per model
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["digits-cnn"] * 2 + ["digits-mlp"] * 2
    for ax in fig.axes:
        looks = _series_looks(ax)
        assert len(looks) == 6  # 3 schemes x 2 prunings
        assert len({look[1:] for look in looks}) == len(looks)  # colour, marker, line style: never all the same
    for figure in ("accuracy-latency", "accuracy-energy"):
        assert len(figs[(figure, "single")].axes) == 2
    few = {(name, size): fig for name, size, fig in rendered(make_rows())}
    assert len(few[("latency-throughput", "single")].axes) == 2  # three series: one plot (two quantities)
    markers = {line.get_marker() for line in few[("latency-throughput", "single")].axes[0].get_lines()}
    assert len(markers) == 3  # one scheme per line: the marker tells them apart in greyscale too


def test_the_baseline_comes_first_everywhere():
    figs = {(name, size): fig for name, size, fig in rendered(make_many_rows())}
    legend = figs[("latency-throughput", "single")].legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels.index("fp32") < labels.index("bf16") < labels.index("int8_dynamic")
    assert labels.index("dense") < labels.index("unstructured · sparsity 0.5")
    energy = figs[("energy-by-scheme", "double")].axes[0]
    assert [t.get_text() for t in energy.get_xticklabels()] == ["fp32", "bf16", "int8_dynamic"]
    agg = data.aggregate(data.ok_rows(make_many_rows()), ["latency_ms_p50"])
    assert agg["quant"].iloc[0] == "fp32" and agg["prune_method"].iloc[0] == "none"


def test_failed_configurations_are_listed_in_every_sidecar_the_footnote_and_the_index(tmp_path, rows):
    manifest = {"name": "synthetic", "complete": True}
    write_figures(rows, tmp_path, provenance={"manifest": manifest}, formats=("svg",), sizes=("single",))
    for card in tmp_path.glob("*-single.json"):
        card = json.loads(card.read_text())
        assert [f["config"] for f in card["failed"]] == ["digits-mlp · fp8 · batch 1"], card["figure"]
        assert card["failed"][0]["error"] == "unsupported: fp8 needs CUDA"
        assert card["complete"] is False
        assert card["manifest"]["complete"] is False and card["manifest"]["sweep_finished"] is True
    assert "Failed (not shown): digits-mlp, fp8, batch 1 (unsupported: fp8 needs CUDA)" in \
        (tmp_path / "results.tex").read_text()
    assert "fp8" in (tmp_path / "results.md").read_text().splitlines()[-1]
    assert json.loads((tmp_path / "index.json").read_text())["failed"][0]["row_ids"] == [37]
    assert "Failed configurations" in (tmp_path / "index.md").read_text()
    assert manifest["complete"] is True  # the caller's manifest is not changed


def test_rows_missing_a_value_are_listed_as_omitted(tmp_path, rows):
    holes = rows.copy()
    holes.loc[(holes["quant"] == "bf16") & (holes["batch_size"] == 1), "energy_mj_per_sample"] = float("nan")
    write_figures(holes, tmp_path, provenance={}, formats=("svg",), sizes=("single",), tables_too=False)
    card = json.loads((tmp_path / "energy-by-scheme-single.json").read_text())
    assert [(o["config"], o["reason"]) for o in card["omitted"]] == \
        [("digits-mlp · bf16 · batch 1", "no value in energy_mj_per_sample")]
    assert json.loads((tmp_path / "accuracy-latency-single.json").read_text())["omitted"] == []


def test_budgets_are_never_pooled_the_stricter_one_is_drawn_and_that_is_said(tmp_path):
    df = make_budget_rows()
    with pytest.raises(ValueError, match="budgets default, quick would be pooled"):
        data.aggregate(data.ok_rows(df), ["latency_ms_p50"])
    write_figures(df, tmp_path, provenance={}, formats=("svg",), sizes=("single",))
    card = json.loads((tmp_path / "latency-throughput-single.json").read_text())
    quick_fp32 = sorted(df.loc[(df["budget"] == "quick") & (df["quant"] == "fp32"), "id"].astype(int))
    assert not set(quick_fp32) & set(card["row_ids"])
    assert sorted(i for o in card["omitted"] for i in o["row_ids"]) == quick_fp32
    assert all("stricter budget 'default'" in o["reason"] for o in card["omitted"])
    only_quick = df[(df["quant"] == "bf16") & (df["batch_size"] == 64)]["id"].astype(int)
    assert set(only_quick) <= set(card["row_ids"])  # measured only with 'quick': kept, not pooled with anything
    md = (tmp_path / "results.md").read_text()
    assert "| budget |" in md.splitlines()[0] and "Left out:" in md
    fp32_b1 = df[(df["quant"] == "fp32") & (df["batch_size"] == 1) & (df["budget"] == "default")]
    line = results_table(df).query("quant == 'fp32' and batch_size == 1").iloc[0]
    assert line["latency_ms_p50"] == fp32_b1["latency_ms_p50"].median() and line["repeats"] == 3


def test_the_latex_table_has_chosen_columns_a_short_caption_and_a_label(tmp_path, rows):
    tex = to_latex(results_table(rows, columns="model,quant,latency_ms_p50,accuracy"))
    lines = tex.splitlines()
    assert r"\begin{table}[tbp]" in lines and r"\end{table}" in lines  # four columns: one column wide
    assert r"\caption[Main results]{" in tex and r"\label{tab:results}" in tex
    caption = next(line for line in lines if line.startswith(r"\caption"))
    assert len(caption) < 120  # two lines of a 3.5 in column at most
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    assert lines[lines.index(r"\toprule") + 1] == r"model & scheme & latency p50 & accuracy \\"
    assert r"\begin{table*}" in to_latex(results_table(rows))  # every column: both columns wide
    with pytest.raises(ValueError, match=r"columns=latency,speed is not allowed: a comma list of model"):
        results_table(rows, columns="model,latency,speed")


def test_figures_columns_option(tmp_path):
    from test_paper_cli import run

    from lab.cli import BadInput
    from lab.store import Store

    store = tmp_path / "lab.sqlite"
    s = Store(store)
    for row in make_rows().drop(columns=["id"]).to_dict("records"):
        s.add({k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}, {"env_id": "e1"})
    code, _, err = run("--store", str(store), "--out", str(tmp_path / "o"), "--size", "single", "--format", "svg",
                       "--columns", "model,quant,batch_size,accuracy")
    assert code == 0, err
    tex = (tmp_path / "o" / "results.tex").read_text()
    assert r"model & scheme & batch size & accuracy \\" in tex
    assert "1 configuration(s) failed" in err and "fp8" in err
    with pytest.raises(BadInput) as bad:
        run("--store", str(store), "--out", str(tmp_path / "o"), "--columns", "model,speed")
    assert "speed" in str(bad.value) and "\n" not in str(bad.value).strip()


def test_every_format_subset_gives_the_same_bytes(tmp_path):
    df, scans = make_many_rows(), make_sensitivity()
    runs = {"all": ("pdf", "svg", "png"), "svg-pdf": ("svg", "pdf"), "pdf": ("pdf",), "png": ("png",)}
    for name, formats in runs.items():
        write_figures(df, tmp_path / name, provenance={}, sensitivity=scans, formats=formats,
                      sizes=("single", "double"), tables_too=False)
    compared = 0
    for name in ("svg-pdf", "pdf", "png"):
        for path in (tmp_path / name).iterdir():
            if path.suffix in (".svg", ".pdf", ".png"):
                assert path.read_bytes() == (tmp_path / "all" / path.name).read_bytes(), (name, path.name)
                compared += 1
    assert compared == 12 * 4
