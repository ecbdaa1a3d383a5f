import numpy as np
import pandas as pd
import pytest

from lab.pareto import pareto_front

LAT_ACC = {"latency_ms_p50": "min", "accuracy": "max"}


def frame(points, names=None, **extra):
    df = pd.DataFrame(points, columns=["latency_ms_p50", "accuracy"])
    df.index = names or [chr(ord("a") + i) for i in range(len(df))]
    return df.assign(**extra)


def test_two_objectives_hand_checked():
    df = frame([(1.0, 0.90),    # a: fastest
                (2.0, 0.95),    # b: slower, better
                (3.0, 0.94),    # c: dominated by b (slower and worse)
                (1.5, 0.85),    # d: dominated by a
                (4.0, 0.99),    # e: slowest, best
                (4.5, 0.99)])   # f: dominated by e (ties on accuracy, slower)
    front = pareto_front(df, LAT_ACC)
    assert list(front.index) == ["a", "b", "e"]
    assert list(front.columns) == list(df.columns)


def test_ties_identical_points_both_stay_a_worse_twin_goes():
    df = frame([(1.0, 0.9), (1.0, 0.9), (1.0, 0.8), (2.0, 0.9)])
    assert list(pareto_front(df, LAT_ACC).index) == ["a", "b"]


def test_three_objectives_hand_checked():
    df = pd.DataFrame({"latency_ms_p50": [1, 2, 2, 3, 1],
                       "energy_mj_per_sample": [5, 1, 2, 1, 5],
                       "accuracy": [0.9, 0.9, 0.95, 0.8, 0.85]}, index=list("abcde"))
    front = pareto_front(df, {"latency_ms_p50": "min", "energy_mj_per_sample": "min", "accuracy": "max"})
    # a: fastest; b: least energy; c: most accurate; d: dominated by b; e: dominated by a
    assert list(front.index) == ["a", "b", "c"]


def test_missing_values_and_error_rows_are_not_candidates():
    df = frame([(1.0, 0.9), (0.5, np.nan), (0.1, 0.99), (2.0, 0.95)],
               error=[None, None, "unsupported: fp8", None])
    assert list(pareto_front(df, LAT_ACC).index) == ["a", "d"]


def test_empty_and_bad_objectives():
    assert pareto_front(frame([]), LAT_ACC).empty
    df = frame([(1.0, 0.9)])
    with pytest.raises(ValueError, match="objectives\\['energy'\\]"):
        pareto_front(df, {"energy": "min"})
    with pytest.raises(ValueError, match="'best'"):
        pareto_front(df, {"accuracy": "best"})
    with pytest.raises(ValueError, match="objectives"):
        pareto_front(df, {})


def test_matches_brute_force_on_random_points():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.integers(0, 12, size=(300, 3)), columns=["x", "y", "z"]).astype(float)
    objectives = {"x": "min", "y": "max", "z": "min"}
    v = df.to_numpy() * np.array([1, -1, 1])
    expected = [i for i in range(len(v))
                if not any((v[j] <= v[i]).all() and (v[j] < v[i]).any() for j in range(len(v)))]
    assert list(pareto_front(df, objectives).index) == expected
