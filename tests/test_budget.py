"""lab.budget: budgets by name, defined once; which stored budget may answer which request."""
import dataclasses

import pytest

from lab.budget import BUDGETS, Budget, at_least_as_strict
from lab.errors import FieldError
from lab.measure.timing import TimingPolicy


def test_the_named_budgets_are_the_one_definition():
    assert list(BUDGETS) == ["default", "quick"]  # strictest first
    assert Budget.named("default") == Budget() and Budget.named("quick") == Budget.quick()
    assert Budget().name == "default" and Budget.quick().name == "quick"
    with pytest.raises(FieldError, match="^budget='fast' is not allowed: one of default, quick$"):
        Budget.named("fast")


def test_a_custom_budget_is_named_by_a_hash_of_its_policy_and_the_idle_baseline_is_its_own_column():
    tiny = Budget(timing=TimingPolicy(min_runs=5))
    assert tiny.name.startswith("custom-") and len(tiny.name) == len("custom-") + 8
    assert tiny.name == Budget(timing=TimingPolicy(min_runs=5)).name  # the same policy, the same name
    assert dataclasses.replace(Budget(), idle_baseline_s=3.0).name == "default"


@pytest.mark.parametrize("stored, requested, serves", [
    ("default", "default", True), ("default", "quick", True), ("quick", "quick", True),
    ("quick", "default", False), ("custom-1a2b3c4d", "custom-1a2b3c4d", True), ("custom-1a2b3c4d", "quick", False),
    ("default", "custom-1a2b3c4d", False), ("custom", "custom", False),  # a policy that was not recorded
])
def test_a_stricter_budget_answers_a_looser_request_never_the_reverse(stored, requested, serves):
    assert at_least_as_strict(stored, requested) is serves


@pytest.mark.parametrize("field", ["energy_window_s", "idle_baseline_s"])
def test_bad_windows_are_one_line_naming_the_field(field):
    with pytest.raises(FieldError, match=f"^{field}=-1 is not allowed: a number of seconds from 0 to 3600$"):
        Budget(**{field: -1})
