"""lab.measure.estimate: process CPU time x watts per busy core, from the TDP table, the environment or
the caller."""
import pytest

from helpers import StepClock
from lab.measure.energy import measure_energy
from lab.measure.estimate import CpuTimeEstimate


def test_estimate_arithmetic(monkeypatch):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    cpu = {"s": 0.0}
    src = CpuTimeEstimate(cpu_time=lambda: cpu["s"], cpu_model="QEMU Virtual CPU version 2.5+")
    assert src.watts_per_core == CpuTimeEstimate.DEFAULT_WATTS_PER_CORE == 10.0
    assert src.note == "estimate: 10.0 W per busy core x process CPU time"
    assert src.assumption == ("10.0 W per busy core: default for a CPU not in the table "
                              "(QEMU Virtual CPU version 2.5+); set LAB_WATTS_PER_CORE to override")

    def work():  # 2.5 s of CPU time across all threads
        cpu["s"] += 2.5

    r = measure_energy(work, src, clock=StepClock(1.0))
    assert (r.calls, r.joules, r.seconds, r.source) == (1, 25.0, 1.0, "estimate")
    assert r.power_w == 25.0


def test_estimate_watts_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("LAB_WATTS_PER_CORE", "4")
    src = CpuTimeEstimate(cpu_time=lambda: 2.5, reason="why", cpu_model="Intel(R) Core(TM) i7-1185G7")
    assert src.read_joules() == 10.0  # env beats the table (7 W for this CPU)
    assert src.note == "estimate: 4.0 W per busy core x process CPU time; why"
    assert src.assumption == "4.0 W per busy core: set by LAB_WATTS_PER_CORE"
    arg = CpuTimeEstimate(6.0, cpu_time=lambda: 2.0)
    assert arg.read_joules() == 12.0  # argument wins over env
    assert arg.assumption == "6.0 W per busy core: given by the caller (watts_per_core)"


@pytest.mark.parametrize("model, watts, assumption", [
    ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 7.0,
     "7.0 W per busy core: Intel Core i7-1185G7 TDP 28 W / 4 cores (Intel ark)"),
    ("AMD EPYC 7763 64-Core Processor", 4.375,
     "4.38 W per busy core: AMD EPYC 7763 TDP 280 W / 64 cores (AMD product page)"),
    ("Intel(R) Xeon(R) Platinum 8480+", 6.25,
     "6.25 W per busy core: Intel Xeon Platinum 8480+ TDP 350 W / 56 cores (Intel ark)"),
])
def test_estimate_table_hit(monkeypatch, model, watts, assumption):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    src = CpuTimeEstimate(cpu_time=lambda: 2.0, cpu_model=model)
    assert src.watts_per_core == watts
    assert src.read_joules() == 2.0 * watts
    assert src.assumption == assumption + "; set LAB_WATTS_PER_CORE to override"


def test_estimate_unknown_server_cpu_gets_default(monkeypatch):
    monkeypatch.delenv("LAB_WATTS_PER_CORE", raising=False)
    # EPYC 9R14 is an AWS-only part: not the 9654 or 9554 in the table.
    src = CpuTimeEstimate(cpu_time=lambda: 1.0, cpu_model="AMD EPYC 9R14 96-Core Processor")
    assert src.watts_per_core == 10.0
    assert "default for a CPU not in the table (AMD EPYC 9R14 96-Core Processor)" in src.assumption


@pytest.mark.parametrize("value", ["abc", "0", "-3", "nan", "inf"])
def test_estimate_invalid_env_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("LAB_WATTS_PER_CORE", value)
    with pytest.raises(ValueError, match="LAB_WATTS_PER_CORE.*positive"):
        CpuTimeEstimate()


@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_estimate_invalid_argument_names_the_field(value):
    with pytest.raises(ValueError, match="watts_per_core"):
        CpuTimeEstimate(value)
