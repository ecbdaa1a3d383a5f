"""Checks for the exercises that are arithmetic on measured numbers: 01's mean/p50/p99, 05's electricity bill."""
from __future__ import annotations

from lab.costs import J_PER_KWH
from lab.exercises.common import call, close, number, report
from lab.measure import timing

# 01, exercise 3: 98 calls of 1 ms and 2 of 10 ms.
SLOW_TAIL_MS = [1.0] * 98 + [10.0] * 2


def check_summary_prediction(predicted) -> bool:
    """``predicted``: a dict with 'mean', 'p50' and 'p99' (ms) for SLOW_TAIL_MS, as lab.measure.timing.summarize
    computes them (linear interpolation between the two nearest samples for a percentile)."""
    if not isinstance(predicted, dict) or not {"mean", "p50", "p99"} <= set(predicted):
        return report(False, f"expected a dict with keys 'mean', 'p50' and 'p99', got {predicted!r:.80}")
    stats = timing.summarize(SLOW_TAIL_MS)
    hints = {
        "mean": {1.0: "that is the typical call; the mean spreads the two slow calls over all 100: (98 x 1 + 2 x 10) / 100",
                 5.5: "that is the mean of the two distinct values, not of the 100 calls: weigh each by how often it occurs"},
        "p50": {stats.mean: "that is the mean; p50 is the middle call when sorted, and 98 of the 100 take 1 ms"},
        "p99": {1.0: "99 % of 100 calls is 99 calls: sorted, the 99th and 100th both take 10 ms, so p99 lands on 10",
                stats.mean: "that is the mean; p99 is the call that 99 % of the calls are at or below"},
    }
    for name in ("mean", "p50", "p99"):
        got, expected = number(predicted[name]), getattr(stats, name)
        if got is None:
            return report(False, f"predicted[{name!r}] is {predicted[name]!r}; give a number of milliseconds")
        if not close(got, expected):
            why = next((h for value, h in hints[name].items() if close(got, value)), f"expected {expected:g} ms")
            return report(False, f"{name} = {got:g} ms is not it: {why}")
    return report(True)


def _bill(energy_mj_per_sample: float, usd_per_kwh: float) -> float:
    return energy_mj_per_sample * 1e-3 * 1e6 / J_PER_KWH * usd_per_kwh


def check_electricity_cost(student_fn) -> bool:
    """``student_fn(energy_mj_per_sample, usd_per_kwh) -> usd``: the electricity bill of a million inferences.
    One inference takes energy_mj_per_sample millijoules; a kWh is 3.6e6 J."""
    for energy_mj, price in [(1.0, 0.15), (0.37, 0.30), (250.0, 0.10)]:
        got, failed = call(student_fn, energy_mj, price)
        value = number(got) if not failed else None
        if failed or value is None:
            return report(False, failed or f"your function returned {got!r:.60} for ({energy_mj}, {price}); "
                                            f"expected one number of US dollars")
        expected = _bill(energy_mj, price)
        if close(value, expected):
            continue
        ratio = value / expected if expected else float("nan")
        hints = [(1e3, "a factor 1,000 too high: millijoules left as joules (divide by 1,000), or a kWh taken "
                       "as 3,600 J (that is a Wh; a kWh is 3.6e6 J)"),
                 (1e6, "a factor a million too high: millijoules left as joules *and* a kWh taken as 3,600 J"),
                 (1e-3, "a factor 1,000 too low: a million samples times millijoules is kilojoules, not joules"),
                 (1e-6, "a factor a million too low: multiply by the million inferences")]
        why = next((h for r, h in hints if h and close(ratio, r)), "")
        return report(False, f"for {energy_mj} mJ per sample at ${price}/kWh your function returned {value:.6g}, "
                             f"expected {expected:.6g}" + (f": {why}" if why else " (mJ -> J -> kWh, times a million, times the price)"))
    return report(True)
