"""lab.teach.intervals: the Wilson interval against a hand computation."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from lab.errors import FieldError
from lab.teach import intervals


def test_wilson_matches_a_hand_computation():
    # 342 of 360 correct (p = 0.95), z = 1.96, worked by hand:
    #   z^2 = 3.8416; z^2/n = 0.01067111; centre = (0.95 + 0.00533556) / 1.01067111 = 0.9452487
    #   p(1-p)/n = 0.0475/360 = 1.3194444e-4; z^2/(4n^2) = 3.8416/518400 = 7.41049e-6
    #   half = 1.96 / 1.01067111 * sqrt(1.3935494e-4) = 1.9393058 * 0.01180487 = 0.0228932
    #   low = 0.9452487 - 0.0228932 = 0.9223555; high = 0.9452487 + 0.0228932 = 0.9681419
    low, high = intervals.wilson(0.95, 360, z=1.96)
    assert low == pytest.approx(0.9223555, abs=1e-6)
    assert high == pytest.approx(0.9681419, abs=1e-6)


def test_wilson_edges_and_width():
    assert intervals.wilson(1.0, 1000)[1] == 1.0
    assert intervals.wilson(0.0, 1000)[0] == 0.0
    low, high = intervals.wilson(1.0, 360)
    assert 0.98 < low < 1.0            # never a point at p = 1
    # 95 % by default; more samples, narrower.
    assert intervals.wilson(0.9, 360) == intervals.wilson(0.9, 360, z=intervals.Z95)
    def width(n):
        low, high = intervals.wilson(0.9, n)
        return high - low
    assert width(1000) < width(360)


def test_wilson_rejects_bad_input():
    for bad in [dict(accuracy=1.2, n=10), dict(accuracy=0.5, n=0), dict(accuracy=0.5, n=2.5),
                dict(accuracy=True, n=10), dict(accuracy=0.5, n=10, z=0)]:
        with pytest.raises(FieldError):
            intervals.wilson(**bad)


def test_wilson_columns_per_model_size():
    df = pd.DataFrame({"model": ["a", "b", "b"], "accuracy": [0.95, 0.9, float("nan")]})
    out = intervals.wilson_columns(df, {"a": 360, "b": 1000})
    assert (out["accuracy_lo"].iloc[0], out["accuracy_hi"].iloc[0]) == intervals.wilson(0.95, 360)
    assert (out["accuracy_lo"].iloc[1], out["accuracy_hi"].iloc[1]) == intervals.wilson(0.9, 1000)
    assert math.isnan(out["accuracy_lo"].iloc[2])
    assert "accuracy_lo" not in df
