"""RAPL energy counters from the Linux powercap sysfs tree (Intel, and AMD Zen
through the same driver).

Layout under /sys/class/powercap (every zone is listed flat at the top level):

- ``intel-rapl:N`` with name ``package-N``: one CPU socket (cores, uncore, caches).
- ``intel-rapl:N:M`` subzones of package N: ``core`` and ``uncore`` are parts
  of the package, already in its counter; ``dram`` is the memory attached to
  the socket and is NOT in the package counter, so it is added.
- ``intel-rapl:N`` with name ``psys``: the whole platform, packages included;
  never added.
- ``intel-rapl-mmio:N``: a second (MMIO) view of package N; never added.

Counters are ``energy_uj`` in microjoules and wrap at ``max_energy_range_uj``.
Since Linux 5.10 (CVE-2020-8694) ``energy_uj`` is readable by root only.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from lab.measure.energy_source import WINDOW_UPDATES, EnergySource, EnergyUnavailable

__all__ = ["RaplEnergy"]

_ZONE = re.compile(r"intel-rapl:(\d+)(?::(\d+))?")  # package N, or subzone N:M


class RaplEnergy(EnergySource):
    """Sum of the package and DRAM RAPL counters under `root` (J).

    `read_text(path) -> str` is injectable for tests (default Path.read_text),
    because as root chmod cannot simulate the usual permission denied.
    """

    name = "rapl"
    update_interval_s = 0.001  # the RAPL MSRs update about every 1 ms
    min_window_s = WINDOW_UPDATES * update_interval_s

    def __init__(self, root: str | Path = "/sys/class/powercap",
                 read_text: Callable[[Path], str] | None = None):
        self._root = Path(root)
        self._read_text = read_text or (lambda p: Path(p).read_text())
        if not self._root.is_dir():
            raise EnergyUnavailable(f"RAPL not available: {self._root} does not exist "
                                    "(no powercap driver; usual in virtual machines)")
        self._zones = self._find_zones()  # [(path, domain name)]
        if not self._zones:
            raise EnergyUnavailable(f"RAPL not available: no package zones under {self._root}")
        self._max_uj = {z: int(self._read(z / "max_energy_range_uj")) for z, _ in self._zones}
        # energy_uj wraps at max_energy_range_uj: keep the last raw value per
        # zone and accumulate deltas. One read per wrap period (minutes at full
        # load) is enough; measuring windows are far shorter.
        self._last_uj = {z: self._raw(z) for z, _ in self._zones}
        self._total_uj = 0
        summed = ", ".join(f"{z.name} {domain}" for z, domain in self._zones)
        dram = "" if any(d == "dram" for _, d in self._zones) else "; DRAM not measured (no dram zone)"
        self.note = (f"rapl: CPU counters summed ({summed}); whole sockets, all processes"
                     f"{dram}; GPU not included")

    def _find_zones(self) -> list[tuple[Path, str]]:
        """Package zones and their dram subzones, packages first in socket order."""
        found: list[tuple[tuple[int, int], Path, str]] = []
        packages: set[str] = set()
        for zone in self._root.iterdir():
            match = _ZONE.fullmatch(zone.name)
            if not match:
                continue  # 'intel-rapl' (the control type), 'intel-rapl-mmio:N' (duplicate view)
            name = self._read(zone / "name")
            package, sub = int(match.group(1)), match.group(2)
            if sub is None and name.startswith("package"):  # psys is excluded here
                packages.add(match.group(1))
                found.append(((package, -1), zone, name))
            elif sub is not None and name == "dram":  # core/uncore are inside the package
                found.append(((package, int(sub)), zone, name))
        # A dram subzone counts only beside its package: without one we are not
        # looking at the usual layout and would rather under- than double-count.
        kept = [(key, zone, name) for key, zone, name in found if str(key[0]) in packages]
        return [(zone, name) for _, zone, name in sorted(kept, key=lambda k: k[0])]

    def _read(self, path: Path) -> str:
        try:
            return self._read_text(path).strip()
        except PermissionError:
            raise EnergyUnavailable(
                f"RAPL not readable: permission denied on {path} (usually root-only)") from None
        except OSError as exc:
            raise EnergyUnavailable(f"RAPL not readable: {path}: {exc.strerror or exc}") from None

    def _raw(self, zone: Path) -> int:
        text = self._read(zone / "energy_uj")
        try:
            return int(text)
        except ValueError:
            raise EnergyUnavailable(f"RAPL not readable: {zone / 'energy_uj'} holds {text!r}, "
                                    "not a whole number of microjoules") from None

    def read_joules(self) -> float:
        for zone, _ in self._zones:
            raw, last = self._raw(zone), self._last_uj[zone]
            # Integer microjoules, so the sum stays exact however long we run.
            self._total_uj += raw - last if raw >= last else self._max_uj[zone] - last + raw
            self._last_uj[zone] = raw
        return self._total_uj / 1e6  # microjoules -> joules
