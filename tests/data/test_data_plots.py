"""lab.data.plots: loader rows drawn with the vocabulary's labels (units in them), medians over repeats."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lab.data import KNOBS, plots  # noqa: E402


def frame():
    return pd.DataFrame([
        {"num_workers": 0, "loader_sps": 100.0, "model_sps": 500.0, "pipeline_sps": 80.0, "stall_frac": 0.8, "error": None},
        {"num_workers": 0, "loader_sps": 120.0, "model_sps": 520.0, "pipeline_sps": 90.0, "stall_frac": 0.6, "error": None},
        {"num_workers": 1, "loader_sps": 200.0, "model_sps": 510.0, "pipeline_sps": 190.0, "stall_frac": 0.1, "error": None},
        {"num_workers": 2, "loader_sps": math.nan, "model_sps": math.nan, "pipeline_sps": math.nan,
         "stall_frac": math.nan, "error": "RuntimeError: boom"},
    ])


def test_rates_draws_three_lines_of_medians_with_units():
    fig, ax = plt.subplots()
    plots.rates(frame(), "num_workers", ax=ax)
    assert ax.get_xlabel() == KNOBS["num_workers"].label and "(samples/s)" in ax.get_ylabel()
    lines = ax.get_lines()
    assert len(lines) == 3
    assert list(lines[0].get_ydata()) == [110.0, 200.0]  # the failed row is left out; medians over repeats
    plt.close(fig)


def test_stall_bars_are_fractions():
    fig, ax = plt.subplots()
    plots.stall(frame(), "num_workers", ax=ax)
    assert [p.get_height() for p in ax.patches] == [0.7, 0.1] and ax.get_ylim() == (0.0, 1.0)
    assert "(0-1)" in ax.get_ylabel()
    assert plots.label("storage") == KNOBS["storage"].label and plots.label("other") == "other"
    plt.close(fig)
