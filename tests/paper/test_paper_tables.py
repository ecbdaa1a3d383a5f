"""The main-results table: one line per configuration, LaTeX booktabs and Markdown."""
import math

import pandas as pd
from paper_rows import make_rows

from lab.paper import results_table, to_latex, to_markdown, write_figures
from lab.paper.tables import latex_escape, number


def test_one_line_per_configuration_with_the_median_and_interval(rows):
    table = results_table(rows)
    measured = rows[rows["error"].isna()]
    assert len(table) == measured["config_id"].nunique() == 12
    assert (table["repeats"] == 3).all()
    one = measured[measured["config_id"] == "bf16-b4"]
    line = table[(table["quant"] == "bf16") & (table["batch_size"] == 4)].iloc[0]
    assert line["latency_ms_p50"] == one["latency_ms_p50"].median()
    assert (line["latency_ms_p50_lo"], line["latency_ms_p50_hi"]) == (one["latency_ms_p50"].min(),
                                                                      one["latency_ms_p50"].max())
    assert "co2_g_per_1k" not in table  # absent columns are not invented
    # sorted by model, pruning, scheme, batch in display order: the fp32 baseline first, not alphabetical
    assert list(table["quant"].iloc[::4]) == ["fp32", "bf16", "int8_dynamic"]


def test_optional_columns_appear_when_present():
    table = results_table(make_rows(roofline=True))
    for col in ("co2_g_per_1k", "cost_usd_per_1m", "roofline_frac"):
        assert col in table and table[col].notna().all()
    tex = to_latex(table)
    assert "CO$_2$e" in tex and "(g/1k samples)" in tex and "cost" in tex and "(USD/1M samples)" in tex


def test_latex_is_booktabs_with_units_and_escapes(rows):
    tex = to_latex(results_table(rows))
    lines = tex.splitlines()
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    assert r"int8\_dynamic" in tex and "int8_dynamic" not in tex.replace(r"int8\_dynamic", "")
    names, units = lines[lines.index(r"\toprule") + 1], lines[lines.index(r"\toprule") + 2]
    assert "latency p50 & throughput" in names and "& (ms) & (samples/s) &" in units  # units on a second line
    assert "energy/sample" in names and "(mJ)" in units
    assert "\\usepackage{booktabs}" in tex
    body = lines[lines.index(r"\midrule") + 1:lines.index(r"\bottomrule")]
    assert len(body) == 12 and all(line.endswith(r"\\") for line in body)
    assert all(line.count("&") == names.count("&") == units.count("&") for line in body)


def test_latex_escapes_percent_ampersand_and_underscore():
    assert latex_escape("a_b 5% R&D #1 {x}") == r"a\_b 5\% R\&D \#1 \{x\}"
    df = make_rows(schemes=("w8%_a&b",))
    tex = to_latex(results_table(df))
    assert r"w8\%\_a\&b" in tex


def test_markdown_has_header_separator_and_one_line_per_configuration(rows):
    md = to_markdown(results_table(rows)).splitlines()
    assert md[0].startswith("| model | pruning | sparsity asked |") and "latency p50 (ms)" in md[0]  # the knobs' order and labels
    assert set(md[1]) <= set("|:-") and md[1].count("|") == md[0].count("|")
    assert len(md) == 2 + 12 + 2  # header, separator, lines; a blank line and the footnote
    assert any("| int8_dynamic |" in line for line in md)
    assert md[-1] == "*Failed (not shown): digits-mlp · fp8 · batch 1 (unsupported: fp8 needs CUDA).*"


def test_numbers_are_rounded_for_reading():
    assert number(0.123456, "latency_ms_p50") == "0.123"
    assert number(0.22, "latency_ms_p50") == "0.220"
    assert number(12345.678, "throughput_sps") == "12346"
    assert number(0.95123, "accuracy") == "0.951"
    assert number(4.0, "batch_size") == "4"
    assert number(float("nan"), "accuracy") is None
    assert number(1.5e-5, "energy_mj_per_sample") == "1.50e-05"
    tex = to_latex(pd.DataFrame({"energy_mj_per_sample": [1.5e-5], "accuracy": [math.nan]}))
    assert r"$1.50\times10^{-5}$ & --" in tex


def test_write_figures_writes_the_tables(tmp_path, rows):
    entries = write_figures(rows, tmp_path, provenance={}, formats=("svg",), sizes=("single",))
    table = [e for e in entries if e["kind"] == "table"]
    assert table and table[0]["skipped"] is None
    assert (tmp_path / "results.tex").read_text() == to_latex(results_table(rows, compact=True))
    assert (tmp_path / "results.md").read_text() == to_markdown(results_table(rows))


def test_a_knob_that_varies_gets_a_column():
    df = pd.concat([make_rows(schemes=("fp32",)).assign(seed=s, config_id=lambda d, s=s: d["config_id"] + f"-s{s}")
                    for s in (0, 1)], ignore_index=True)
    table = results_table(df)
    assert "seed" in table and len(table) == 8 and "threads" not in table
    assert "| seed |" in to_markdown(table).splitlines()[0]


def test_tables_and_labels_show_what_pruning_and_quantization_reached():
    """Issue 12: the sparsity knob asks; params_removed_frac and quantized_frac say what was done.
    Structured 0.5 removed 17 % of one model's parameters and 52 % of the other's."""
    from lab.paper.data import rest_labels

    base = dict(quant="fp32", batch_size=1, threads=1, device="cpu", latency_ms_p50=1.0, throughput_sps=1000.0,
                peak_mem_mib=1.0, energy_mj_per_sample=1.0, energy_source="estimate", accuracy=0.9, error=None,
                budget="quick", quantized_frac=0.0)
    rows = pd.DataFrame([
        {**base, "config_id": "a0", "id": 1, "model": "gru", "prune_method": "none", "sparsity": 0.0, "params_removed_frac": 0.0},
        {**base, "config_id": "a1", "id": 2, "model": "gru", "prune_method": "structured", "sparsity": 0.5, "params_removed_frac": 0.17},
        {**base, "config_id": "b1", "id": 3, "model": "vit", "prune_method": "structured", "sparsity": 0.5, "params_removed_frac": 0.52},
        {**base, "config_id": "b2", "id": 4, "model": "vit", "prune_method": "none", "sparsity": 0.0, "params_removed_frac": 0.0,
         "quant": "int8-dynamic", "quantized_frac": 0.93},
    ])
    labels = rest_labels(rows, by_model=True)
    assert list(labels) == ["dense", "structured · 17%–52% of params removed", "structured · 17%–52% of params removed", "dense"]
    assert list(rest_labels(rows[rows["model"] == "gru"], by_model=True)) == ["dense", "structured · 17% of params removed"]
    table = results_table(rows)
    assert list(table.columns[:6]) == ["model", "prune_method", "sparsity", "quant", "batch_size", "params_removed_frac"]
    assert "quantized_frac" in table and sorted(table["params_removed_frac"]) == [0.0, 0.0, 0.17, 0.52]
    md = to_markdown(table).splitlines()[0]
    assert "| sparsity asked |" in md and "| params removed (fraction) |" in md and "| weights quantized (fraction) |" in md
