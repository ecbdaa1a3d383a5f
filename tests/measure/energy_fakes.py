"""Fakes the energy tests share (test_energy, test_rapl, test_nvml, test_estimate, test_energy_check):
a clock that ticks a known amount per read, and RAPL zones under a temporary powercap root."""
from pathlib import Path


class FakeClock:
    """Advances `tick` seconds on every read (binary-exact ticks keep sums exact)."""

    def __init__(self, tick: float):
        self.t, self.tick, self.reads = 0.0, tick, 0

    def __call__(self) -> float:
        self.reads += 1
        self.t += self.tick
        return self.t


def make_zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850):
    zone = root / dirname
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int):
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
