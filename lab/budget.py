"""How much time a measurement may take, by name: ``default``, ``quick``.

Every row stores its budget's name (the ``budget`` column), and the reuse rule
(lab.bench) reads it: a row measured with a stricter budget may answer a request
made with a looser one, never the reverse. The dashboard measures with ``quick``,
so its rows answer ``python -m lab run --quick`` and ``budget = "quick"`` studies.

    Budget.named("quick")      # the one definition
    budget.name                # 'default', 'quick' or 'custom'
"""
from __future__ import annotations

import dataclasses
import hashlib

from lab.errors import FieldError
from lab.measure.contention import ContentionPolicy
from lab.measure.timing import TimingPolicy


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much time a measurement may take.

    timing: warm-up and sampling policy for latency
    energy_window_s: shortest energy window (s); the source's own minimum (100 counter
        updates) applies too, unless ``short_energy_window`` allows less (rows then say so)
    short_energy_window: let the energy window drop below 100 counter updates (interactive use)
    idle_baseline_s: measure idle power for this long before each energy window and subtract
        it (s; 0 = no baseline). The row records the idle power it subtracted.
    contention: how often, after what pause, a measurement that other processes disturbed is
        repeated before it is stored flagged ``contended`` (lab.measure.contention)
    """

    timing: TimingPolicy = TimingPolicy()
    energy_window_s: float = 1.0
    short_energy_window: bool = False
    idle_baseline_s: float = 0.0
    contention: ContentionPolicy = ContentionPolicy()

    def __post_init__(self):
        for name in ("energy_window_s", "idle_baseline_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
                raise FieldError(name, value, "a number of seconds from 0 to 3600")

    @classmethod
    def quick(cls) -> "Budget":
        """For interactive use (the dashboard, --quick) and tests: 0.05 to 0.15 s of timed
        calls per configuration (lab.measure.timing.TimingPolicy.quick), plus the warm-up."""
        # One retry after a short pause: a dashboard user waits for the point.
        # The energy window is the timed calls themselves (>= 0.05 s): no extension; rows say short_window.
        return cls(timing=TimingPolicy.quick(), energy_window_s=0.05, short_energy_window=True,
                   contention=ContentionPolicy(max_retries=1, pause_s=0.2))

    @classmethod
    def named(cls, name: str) -> "Budget":
        """The budget called ``name`` ('default' or 'quick'); FieldError otherwise."""
        if name not in BUDGETS:
            raise FieldError("budget", name, "one of " + ", ".join(BUDGETS))
        return BUDGETS[name]

    @property
    def name(self) -> str:
        """'default', 'quick', or 'custom-<hash of the policy>' for any other budget, so that only a
        request with the very same policy reuses a custom row. (The idle baseline is a separate
        column: idle_power_w.)"""
        return policy_name(dataclasses.replace(self, idle_baseline_s=0.0), BUDGETS)


def policy_name(policy, named: dict) -> str:
    """The key of ``named`` whose budget equals ``policy``, else 'custom-<8 hex of sha256(repr)>': a
    budget's name derived from its policy (Budget, lab.data.measure.LoaderBudget), never given."""
    found = next((name for name, budget in named.items() if budget == policy), None)
    return found if found is not None else "custom-" + hashlib.sha256(repr(policy).encode()).hexdigest()[:8]


# Strictest first: a row of a budget serves requests of its own budget and of the ones after it.
BUDGETS: dict[str, Budget] = {"default": Budget(), "quick": Budget.quick()}


def at_least_as_strict(stored: str, requested: str) -> bool:
    """May a row measured with budget ``stored`` answer a request made with ``requested``?

    Same name always (a custom name carries its policy's hash); 'default' answers 'quick'.
    Rows stored as plain 'custom' (before the hash) answer nothing: their policy is unknown."""
    if stored == requested:
        return stored != "custom"
    order = list(BUDGETS)
    return stored in order and requested in order and order.index(stored) < order.index(requested)
