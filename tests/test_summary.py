"""lab.summary: the median and min-max across repeats per configuration, which rows succeeded, and the
quality budget against the baseline; exact answers on small hand-made frames."""
import math

import pandas as pd
import pytest

from lab import study as studies
from lab.config import DEFAULT_BASELINE
from lab.summary import succeeded, summarize, within_quality_budget

NAN = float("nan")


def test_summarize_median_and_min_max_on_a_hand_made_frame():
    df = pd.DataFrame({
        "config_id": ["a", "a", "a", "b", "b", "c"],
        "quant": ["fp32", "fp32", "fp32", "bf16", "bf16", "int8"],
        "latency_ms_p50": [3.0, 1.0, 2.0, 5.0, 7.0, 1.0],
        "accuracy": [0.9, 0.9, float("nan"), 0.8, 0.8, 0.5],
        "error": [None, None, None, None, None, "unsupported: int8"],
    })
    out = summarize(df)
    assert out.attrs["interval"] == "min-max across repeats"
    assert list(out["config_id"]) == ["a", "b"]  # the failed config is left out
    a, b = out.iloc[0], out.iloc[1]
    assert (a["latency_ms_p50"], a["latency_ms_p50_lo"], a["latency_ms_p50_hi"], a["repeats"]) == (2.0, 1.0, 3.0, 3)
    assert (b["latency_ms_p50"], b["latency_ms_p50_lo"], b["latency_ms_p50_hi"], b["repeats"]) == (6.0, 5.0, 7.0, 2)
    assert a["accuracy"] == 0.9  # NaN skipped
    assert a["quant"] == "fp32"  # knob columns carried along

    by_quant = summarize(df, by="quant", values=["latency_ms_p50"])
    assert list(by_quant.columns) == ["quant", "latency_ms_p50", "latency_ms_p50_lo", "latency_ms_p50_hi", "repeats"]
    with pytest.raises(ValueError, match="nope"):
        summarize(df, values=["nope"])


def test_within_quality_budget_on_a_hand_made_frame():
    df = pd.DataFrame({
        "model": ["m"] * 7 + ["n"],
        "batch_size": [1, 1, 1, 1, 8, 8, 1, 1],
        "quant": ["fp32", "fp32", "bf16", "int8", "fp32", "int8", "fp8", "int8"],
        "accuracy": [0.90, 0.92, 0.905, 0.89, 0.80, 0.75, 0.91, 0.99],
        "error": [None] * 6 + ["unsupported: fp8", None],
    })
    quality = studies.Quality(max_drop=0.01, baseline={"quant": "fp32"})
    # batch 1 baseline: median(0.90, 0.92) = 0.91 -> bf16 0.905 within, int8 0.89 (drop 0.02) not
    # batch 8 baseline 0.80: int8 0.75 not. failed fp8: not. model n has no fp32 row: not.
    expected = [True, True, True, False, True, False, False, False]
    assert within_quality_budget(df, quality).tolist() == expected
    assert within_quality_budget(df, {"max_drop": 0.03, "baseline": {"quant": "fp32"}}).tolist() == \
        [True, True, True, True, True, False, False, False]
    exact = pd.DataFrame({"quant": ["fp32", "bf16"], "accuracy": [0.99, 0.98]})
    assert within_quality_budget(exact, {"max_drop": 0.01}).tolist() == [True, True]  # 0.01 drop is allowed
    with pytest.raises(ValueError, match="quality"):
        within_quality_budget(df, None)


# --- summarize: median and min-max across repeats, failed rows left out ----------------------------

def test_repeats_of_one_config_give_the_median_and_min_max_exactly_without_the_failed_ones():
    df = pd.DataFrame({
        "config_id": ["x"] * 5 + ["y", "y"],
        "batch_size": [8] * 5 + [1, 1],
        "repeat": [0, 1, 2, 3, 4, 0, 1],
        "latency_ms_p50": [4.0, 1.0, 10.0, 2.0, 100.0, 7.0, 9.0],
        "energy_mj_per_sample": [0.5, 0.25, 0.75, 1.0, 50.0, 3.0, 3.0],
        "error": [None, "", None, None, "RuntimeError: boom", "unsupported: y", "unsupported: y"],
    })
    out = summarize(df)
    # x: the four rows without an error ('' is none); the failed fifth (100 ms, 50 mJ) is left out.
    # Median of an even count is the mean of the middle two: (2 + 4) / 2 and (0.5 + 0.75) / 2.
    # y failed in every repeat: no row at all. 'repeat' describes the run: never summarized.
    assert list(out.columns) == ["config_id", "batch_size", "latency_ms_p50", "latency_ms_p50_lo",
                                 "latency_ms_p50_hi", "energy_mj_per_sample", "energy_mj_per_sample_lo",
                                 "energy_mj_per_sample_hi", "repeats"]
    assert out.to_dict("records") == [{
        "config_id": "x", "batch_size": 8, "latency_ms_p50": 3.0, "latency_ms_p50_lo": 1.0,
        "latency_ms_p50_hi": 10.0, "energy_mj_per_sample": 0.625, "energy_mj_per_sample_lo": 0.25,
        "energy_mj_per_sample_hi": 1.0, "repeats": 4}]


def test_a_group_of_only_missing_values_summarizes_to_nan():
    df = pd.DataFrame({"config_id": ["a", "a"], "accuracy": [NAN, NAN], "latency_ms_p50": [1.0, 3.0]})
    (row,) = summarize(df).to_dict("records")
    assert math.isnan(row["accuracy"]) and math.isnan(row["accuracy_lo"]) and math.isnan(row["accuracy_hi"])
    assert (row["latency_ms_p50"], row["repeats"]) == (2.0, 2)


def test_succeeded_means_no_error_text():
    assert succeeded(pd.DataFrame({"x": [1, 2]})).tolist() == [True, True]  # no error column: none failed
    df = pd.DataFrame({"error": [None, "", NAN, "unsupported: fp8"]})
    assert succeeded(df).tolist() == [True, True, True, False]


# --- the quality budget against the baseline ---------------------------------------------------------

def knob_rows(*rows):
    """Rows of (width, prune_method, sparsity, finetune_epochs, quant, batch_size, accuracy) for model m."""
    names = ["width", "prune_method", "sparsity", "finetune_epochs", "quant", "batch_size", "accuracy"]
    return pd.DataFrame([dict(zip(names, r), model="m") for r in rows])


def test_the_drop_is_measured_against_the_default_baseline_exactly():
    assert DEFAULT_BASELINE == {"width": 1.0, "prune_method": "none", "sparsity": 0.0, "finetune_epochs": 0,
                                "quant": "fp32"}
    df = knob_rows(
        (1.0, "none", 0.0, 0, "fp32", 1, 0.90),          # the baseline, two repeats: median 0.92
        (1.0, "none", 0.0, 0, "fp32", 1, 0.94),
        (1.0, "none", 0.0, 0, "bf16", 1, 0.90),          # drop 0.02: exactly the budget, within
        (1.0, "none", 0.0, 0, "int8-dynamic", 1, 0.899999999),  # drop 0.020000001: over
        (1.0, "unstructured", 0.5, 0, "fp32", 1, 0.93),  # better than the baseline: within
        (1.0, "none", 0.0, 2, "fp32", 1, 0.91),          # fine-tuned: not a baseline row, drop 0.01
        (0.5, "none", 0.0, 0, "fp32", 1, 0.919),         # width 0.5 is not the baseline's 1.0: drop 0.001
        (1.0, "none", 0.0, 0, "bf16", 8, 0.95),          # batch 8: no baseline measured at batch 8
    )
    expected = [True, True, True, False, True, True, True, False]
    assert within_quality_budget(df, {"max_drop": 0.02}).tolist() == expected  # baseline left out: the default
    assert within_quality_budget(df, {"max_drop": 0.02, "baseline": DEFAULT_BASELINE}).tolist() == expected
    assert within_quality_budget(df, studies.Quality(max_drop=0.02, baseline=DEFAULT_BASELINE)).tolist() == expected
    # A budget of 0.01: the fine-tuned row (drop 0.01) stays in; bf16, int8 and the baseline's own
    # 0.90 repeat (0.02 below its median) fall out.
    assert within_quality_budget(df, {"max_drop": 0.01}).tolist() == \
        [False, True, False, False, True, True, True, False]


def test_a_missing_accuracy_is_never_within_the_budget():
    df = knob_rows(
        (1.0, "none", 0.0, 0, "fp32", 1, 0.90),
        (1.0, "none", 0.0, 0, "bf16", 1, NAN),           # no quality value
        (1.0, "none", 0.0, 0, "fp16", 1, None),          # nor here
        (1.0, "none", 0.0, 0, "fp32", 8, NAN),           # a baseline without a value: no reference at batch 8
        (1.0, "none", 0.0, 0, "bf16", 8, 0.99),
    )
    assert within_quality_budget(df, {"max_drop": 1.0}).tolist() == [True, False, False, False, False]


def test_the_quality_budget_needs_an_accuracy_column():
    with pytest.raises(ValueError, match="accuracy"):
        within_quality_budget(pd.DataFrame({"quant": ["fp32"]}), {"max_drop": 0.01})
