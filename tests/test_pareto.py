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


def _ten_points():
    # latency (min), peak memory (min), accuracy (max), energy (min), size (min); worked out by hand below.
    return pd.DataFrame({
        "latency_ms_p50":       [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 0.5, 2.5, 4.0],
        "peak_mem_mib":         [10., 10., 10., 5.0, 5.0, 20., 20., 30., 6.0, 4.0],
        "accuracy":             [.90, .90, .89, .90, .95, .99, .98, .50, .94, .80],
        "energy_mj_per_sample": [3.0, 3.0, 3.0, 2.0, 2.0, 5.0, 1.0, 4.0, 2.0, 6.0],
        "model_size_mib":       [8.0, 8.0, 8.0, 2.0, 4.0, 8.0, 8.0, 1.0, 2.0, 1.0],
    }, index=list("abcdefghij"))


def test_three_objectives_with_ties_and_duplicates_hand_checked():
    front = pareto_front(_ten_points(), {"latency_ms_p50": "min", "peak_mem_mib": "min", "accuracy": "max"})
    # a, b: identical, neither beats the other -> both stay; c: a's twin, less accurate -> dominated by a
    # d: same latency and memory as e, less accurate -> dominated by e; e: least memory at 2 ms, 0.95
    # f: most accurate; g: f's twin, less accurate -> dominated by f; h: fastest
    # i: slower, more memory and less accurate than e -> dominated; j: least memory
    assert list(front.index) == ["a", "b", "e", "f", "h", "j"]


def test_two_objectives_energy_and_size_hand_checked():
    front = pareto_front(_ten_points(), {"energy_mj_per_sample": "min", "model_size_mib": "min"})
    # d and i tie at (2 mJ, 2 MiB): both stay; g: least energy; h: smallest (j ties on size, more energy)
    # a, b, c, e, f: beaten by d
    assert list(front.index) == ["d", "g", "h", "i"]


def test_front_of_summarized_repeats():
    from lab.summary import summarize

    df = pd.DataFrame({"config_id": ["x", "x", "x", "y", "y", "y", "z", "z", "z"],
                       "latency_ms_p50": [1.0, 9.0, 1.1, 2.0, 2.1, 1.9, 3.0, 3.0, 3.0],
                       "accuracy": [0.9] * 3 + [0.95] * 3 + [0.94] * 3})
    summary = summarize(df, values=["latency_ms_p50", "accuracy"])
    front = pareto_front(summary, LAT_ACC)  # medians: x 1.1 ms (one slow outlier ignored), y 2 ms, z dominated
    assert list(front["config_id"]) == ["x", "y"]
