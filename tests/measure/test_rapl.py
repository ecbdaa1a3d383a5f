"""lab.measure.rapl: the CPU package and DRAM counters under a fake powercap tree with known answers."""
from pathlib import Path

import pytest

from energy_fakes import make_zone, set_energy
from helpers import StepClock
from lab.measure.energy import choose_source, explain, measure_energy
from lab.measure.energy_source import EnergyUnavailable
from lab.measure.rapl import RaplEnergy


def test_rapl_sums_package_and_dram_only(tmp_path):
    # The real layout: every zone listed flat under /sys/class/powercap.
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    core = make_zone(tmp_path, "intel-rapl:0:0", "core", 500_000)      # inside the package
    uncore = make_zone(tmp_path, "intel-rapl:0:1", "uncore", 100_000)  # inside the package
    dram = make_zone(tmp_path, "intel-rapl:0:2", "dram", 200_000)      # NOT inside the package
    psys = make_zone(tmp_path, "intel-rapl:1", "psys", 0)              # contains everything
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)    # second view of the package
    (tmp_path / "intel-rapl").mkdir()                                  # the control type, not a zone
    src = RaplEnergy(tmp_path)
    assert (src.name, src.update_interval_s, src.min_window_s, src.assumption) == ("rapl", 0.001, 0.1, "")
    assert src.read_joules() == 0.0
    set_energy(pkg, 4_000_000)     # +3 J
    set_energy(core, 2_500_000)    # +2 J, already in the package's 3 J
    set_energy(uncore, 600_000)    # +0.5 J, already in the package's 3 J
    set_energy(dram, 1_200_000)    # +1 J
    set_energy(psys, 99_000_000)   # +99 J, would double count
    set_energy(mmio, 4_000_000)    # +4 J, would double count
    assert src.read_joules() == 4.0  # package 3 J + dram 1 J
    assert "intel-rapl:0 package-0, intel-rapl:0:2 dram" in src.note
    assert "core" not in src.note and "psys" not in src.note
    assert "mmio" not in src.note and "DRAM not measured" not in src.note


def test_rapl_two_packages_summed_and_psys_ignored(tmp_path):
    p0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    p1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 10)
    psys = make_zone(tmp_path, "intel-rapl:2", "psys", 0)
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)  # second view of p0
    src = RaplEnergy(tmp_path)
    for zone, uj in [(p0, 1_500_000), (p1, 2_500_010), (psys, 99_000_000), (mmio, 1_500_000)]:
        set_energy(zone, uj)
    assert src.read_joules() == 4.0
    assert "(intel-rapl:0 package-0, intel-rapl:1 package-1)" in src.note
    assert "DRAM not measured (no dram zone)" in src.note


def test_rapl_dram_of_each_package_summed_in_socket_order(tmp_path):
    p1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 0)
    d1 = make_zone(tmp_path, "intel-rapl:1:0", "dram", 0)
    p0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    d0 = make_zone(tmp_path, "intel-rapl:0:0", "dram", 0)
    orphan = make_zone(tmp_path, "intel-rapl:2:0", "dram", 0)  # no package 2 beside it: not summed
    src = RaplEnergy(tmp_path)
    for zone, uj in [(p0, 1_000_000), (d0, 250_000), (p1, 2_000_000), (d1, 500_000), (orphan, 7_000_000)]:
        set_energy(zone, uj)
    assert src.read_joules() == 3.75
    assert ("(intel-rapl:0 package-0, intel-rapl:0:0 dram, intel-rapl:1 package-1, "
            "intel-rapl:1:0 dram)") in src.note


def test_rapl_wraparound_is_exact(tmp_path):
    max_uj = 1_000_000_000
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", max_uj - 250_000, max_uj)
    src = RaplEnergy(tmp_path)
    set_energy(pkg, 750_000)  # wrapped once: 250_000 up to max, then 750_000
    assert src.read_joules() == 1.0
    set_energy(pkg, 2_750_000)
    assert src.read_joules() == 3.0  # keeps accumulating after the wrap


def test_rapl_wraparound_per_zone(tmp_path):
    # The dram counter has its own, smaller range and wraps; the package does not.
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 5_000_000, 262_143_328_850)
    dram = make_zone(tmp_path, "intel-rapl:0:0", "dram", 65_000_000, 65_532_610_987 // 1000)
    src = RaplEnergy(tmp_path)
    set_energy(pkg, 6_000_000)                      # +1 J
    set_energy(dram, 1_000_000)                     # wrapped at 65_532_610 uJ
    assert src.read_joules() == (1_000_000 + (65_532_610 - 65_000_000) + 1_000_000) / 1e6


def test_rapl_garbage_counter_is_unavailable_with_path(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (pkg / "energy_uj").write_text("n/a\n")
    with pytest.raises(EnergyUnavailable, match=r"energy_uj holds 'n/a'"):
        RaplEnergy(tmp_path)


def test_rapl_measure_energy_over_window(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    state = {"uj": 0}

    def work():  # 0.2 J per call
        state["uj"] += 200_000
        set_energy(pkg, state["uj"])

    r = measure_energy(work, RaplEnergy(tmp_path), min_window_s=0.5, clock=StepClock(0.125))
    assert (r.calls, r.seconds, r.joules) == (4, 0.5, 0.8)
    assert r.source == "rapl"


def test_rapl_permission_denied_falls_back_to_estimate(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)

    def read_text(path):  # root can read anything, so chmod can't simulate this
        if Path(path).name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).read_text()

    with pytest.raises(EnergyUnavailable, match="permission denied on .*energy_uj"):
        RaplEnergy(tmp_path, read_text=read_text)
    src = choose_source("cpu", powercap_root=tmp_path, read_text=read_text, cpu_model="Some CPU")
    assert src.name == "estimate"
    assert "permission denied" in src.note and "root-only" in src.note
    assert explain("cpu", powercap_root=tmp_path, read_text=read_text, cpu_model="Some CPU") == (
        f"estimate: RAPL not readable: permission denied on {tmp_path / 'intel-rapl:0' / 'energy_uj'} "
        "(usually root-only); using 10.0 W per busy core: default for a CPU not in the table (Some CPU); "
        "set LAB_WATTS_PER_CORE to override")


def test_rapl_missing_root_or_no_packages(tmp_path):
    src = choose_source("cpu", powercap_root=tmp_path / "nope")
    assert src.name == "estimate" and "does not exist" in src.note
    make_zone(tmp_path, "intel-rapl:0", "psys", 0)
    with pytest.raises(EnergyUnavailable, match="no package zones"):
        RaplEnergy(tmp_path)
