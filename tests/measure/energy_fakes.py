"""Fakes the energy tests share (test_energy, test_rapl): RAPL zones under a temporary powercap root.
The clock that ticks a known amount per read is tests/helpers.py's StepClock, shared with the training tests."""
from pathlib import Path


def make_zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850):
    zone = root / dirname
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int):
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
