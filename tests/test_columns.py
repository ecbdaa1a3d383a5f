"""lab.columns: the one vocabulary of result columns, its order, and that a real row uses only it."""
import math

import pytest

import lab
from lab import numbers
from lab.columns import COLUMNS, TABLE_COLUMNS, finite, ordered
from lab.config import KNOBS

# Fields of the environment a row carries beside its measurements (lab.hardware): not result columns.
ENVIRONMENT = {"cpu_count", "python_version", "platform", "hostname"}


def test_every_knob_has_a_column_description():
    for name in KNOBS:
        assert isinstance(COLUMNS.get(name), str) and COLUMNS[name].strip(), name


def test_every_column_is_described():
    assert all(isinstance(text, str) and text.strip() for text in COLUMNS.values())


def test_every_table_column_is_documented():
    assert [c for c in TABLE_COLUMNS if c not in COLUMNS] == []
    assert len(set(TABLE_COLUMNS)) == len(TABLE_COLUMNS)


def test_ordered_puts_known_columns_in_vocabulary_order_then_the_others_as_given():
    keys = ["zebra", "error", "accuracy", "model", "apple", "latency_ms_p50", "batch_size", "quant"]
    assert ordered(keys) == ["model", "quant", "batch_size", "latency_ms_p50", "accuracy", "error",
                             "zebra", "apple"]
    assert ordered(iter(["b", "a"])) == ["b", "a"]   # any iterable; no known column: order kept
    assert ordered([]) == []


@pytest.mark.parametrize("value", [None, True, False, float("nan"), float("inf"), -math.inf, "text", "", [1.0]])
def test_finite_is_none_for_what_holds_no_number(value):
    assert finite(value) is None


@pytest.mark.parametrize("value, number", [(0, 0.0), (3, 3.0), (2.5, 2.5), (-1e-3, -1e-3), ("4.5", 4.5)])
def test_finite_is_the_float_otherwise(value, number):
    result = finite(value)
    assert result == number and type(result) is float


def test_finite_is_re_exported_from_lab_numbers():
    assert finite is numbers.finite


@pytest.fixture(scope="module")
def real_row():
    """One quick measurement of a small model (a few seconds), stored nowhere."""
    return lab.Bench(None, budget="quick").measure(lab.Config(model="digits-mlp", batch_size=2, threads=1))


def test_every_column_of_a_real_row_is_documented(real_row):
    assert real_row["error"] is None
    assert sorted(set(real_row) - set(COLUMNS) - ENVIRONMENT) == []
