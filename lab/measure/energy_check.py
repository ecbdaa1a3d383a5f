"""Does an energy reading agree with the timing beside it? Arithmetic on figures a row already has.

    check_energy(joules_per_call, latency_ms_mean, power_w, max_power_w=...)   # -> EnergyCheck
    check_row(row)                                                             # the same, from stored columns

A reading is flagged ``energy_inconsistent`` when its energy per call disagrees with the
window's power x the *timed* latency (the energy window's calls ran at another speed than
the timed ones: a busy machine), or implies more power than the source can draw.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.measure.energy_source import positive

# Energy per call and the window's power x the timed latency agree when they
# differ by at most a factor 1 + 0.5 either way. The two windows run the same
# call in the same process seconds apart; what separates them on a quiet
# machine is clock speed drifting between windows (10-30 % on these machines,
# see benchmarks/fidelity.py) and the per-call clock reads / syncs of each
# loop. The failures this catches are factors, not per cent (168x in the
# example that prompted it), so the tolerance leaves room above the drift.
# Measured on the shared 2-core dev machine while it was busy (others at 50-75 %
# of its CPUs, by lab.measure.contention): window / timed per-call time ranged
# from 0.15x to 24x over 14 rows of three models; 9 were beyond 1.5x.
ENERGY_TIME_TOLERANCE = 0.5
# Mean power may exceed the source's ceiling (max_power_w) by this factor before
# it is flagged: GPU boards overshoot their limit briefly, and a short window's
# CPU-time reading is quantised (about 1 ms of CPU time either way).
POWER_CEILING_FACTOR = 1.5


@dataclass(frozen=True)
class EnergyCheck:
    """Whether an energy reading agrees with the timing beside it.

    inconsistent: True when energy per call disagrees with the window's power x
    the timed latency, or implies a power far above the source's ceiling;
    note: what was compared, in one line ("not checked: ..." when it could not
    be); implied_power_w: energy per call / timed latency (W), None unchecked.
    """

    inconsistent: bool
    note: str
    implied_power_w: float | None = None

    def as_row(self) -> dict:
        """The row fields: energy_inconsistent (bool) and energy_check_note (text)."""
        return {"energy_inconsistent": self.inconsistent, "energy_check_note": self.note}


def energy_consistent(joules: float, seconds: float, power_w: float,
                      tolerance: float = ENERGY_TIME_TOLERANCE) -> bool:
    """True when `joules` (J) is within a factor 1 + `tolerance` (either way) of
    `power_w` (W) x `seconds` (s). Raises ValueError unless all are positive numbers."""
    for name, value in (("joules", joules), ("seconds", seconds), ("power_w", power_w), ("tolerance", tolerance)):
        if not positive(value):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    ratio = joules / (power_w * seconds)
    return 1 / (1 + tolerance) <= ratio <= 1 + tolerance


def check_energy(joules_per_call: float, latency_ms_mean: float, power_w: float, *,
                 max_power_w: float | None = None, tolerance: float = ENERGY_TIME_TOLERANCE) -> EnergyCheck:
    """Check one call's energy (J) against the TIMING window's mean latency of a call (ms)
    and the energy window's mean power (W).

    Two tests, both arithmetic on figures the row already has:
    1. energy per call ~ power_w x latency (`energy_consistent`): otherwise the
       energy window's calls took a different time from the timed ones, so the
       two windows saw different runs;
    2. implied power (energy per call / latency) and power_w at most
       POWER_CEILING_FACTOR x `max_power_w`, when the source knows a ceiling.
    Not checked (never flagged) when a figure is missing or not positive, e.g.
    energy net of an idle baseline that came out <= 0.
    """
    figures = (("energy per call", joules_per_call, "J"), ("timed latency", latency_ms_mean, "ms"),
               ("window power", power_w, "W"))
    for what, value, unit in figures:
        if not positive(value):
            return EnergyCheck(False, f"not checked: {what} is {value!r} {unit}, not a positive number")
    latency_s = latency_ms_mean / 1e3
    implied = joules_per_call / latency_s
    window_ms = joules_per_call / power_w * 1e3
    ratio = window_ms / latency_ms_mean
    problems = []
    if not energy_consistent(joules_per_call, latency_s, power_w, tolerance):
        problems.append(f"{_g(joules_per_call)} J per call over the timed {_g(latency_ms_mean)} ms implies "
                        f"{_g(implied)} W, but the energy window averaged {_g(power_w)} W: its calls took "
                        f"{_g(window_ms)} ms each ({_g(ratio)}x the timed latency; allowed "
                        f"{1 + tolerance:g}x either way), so the two windows saw different runs")
    ceiling = max_power_w if positive(max_power_w) else None
    if ceiling is not None and max(implied, power_w) > POWER_CEILING_FACTOR * ceiling:
        problems.append(f"{_g(max(implied, power_w))} W is above {POWER_CEILING_FACTOR:g}x the source's "
                        f"ceiling of {_g(ceiling)} W")
    if problems:
        return EnergyCheck(True, "energy inconsistent: " + "; ".join(problems), implied)
    bound = f", under the {_g(ceiling)} W ceiling" if ceiling is not None else ", no ceiling known"
    return EnergyCheck(False, f"consistent: energy-window calls {_g(window_ms)} ms vs timed {_g(latency_ms_mean)} "
                              f"ms ({_g(ratio)}x); implied {_g(implied)} W{bound}", implied)


def check_row(row: dict, *, max_power_w: float | None = None,
              tolerance: float = ENERGY_TIME_TOLERANCE) -> EnergyCheck:
    """`check_energy` from a stored row's columns: energy_mj_per_sample x batch_size,
    latency_ms_mean and power_w (so rows measured before this check can be checked too)."""
    mj, batch = row.get("energy_mj_per_sample"), row.get("batch_size")
    per_call = mj * batch / 1e3 if positive(mj) and positive(batch) else mj
    return check_energy(per_call, row.get("latency_ms_mean"), row.get("power_w"),
                        max_power_w=max_power_w, tolerance=tolerance)


def _g(x: float) -> str:
    """A figure for a note: 3 significant digits, whole numbers from 1000 up."""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"
