"""lab.measure.profile: the per-operator view of a forward pass (issue 15, "Where the time goes").

On digits-mlp at one thread: the operators' self times add up to the wall time around the same
profiled calls (within 10 %), the matmul leads in fp32 and the dynamic int8 linear in int8-dynamic.
The prepared models are built once per module (a second or two each)."""
from __future__ import annotations

import matplotlib
import pytest
import torch

import lab
from lab import plots
from lab.hardware import torch_threads
from lab.measure.profile import OperatorProfile, OperatorTime, profile_config, profile_operators

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fp32_64() -> OperatorProfile:
    # Up to three profiles, as the lab measures again when the machine was busy: a run descheduled
    # between operators (another process on the core, seen on CI) adds to the wall time around the
    # calls but to no operator's self time. A real gap between the two shows in all three.
    for _ in range(3):
        prof = profile_config(lab.Config(model="digits-mlp", threads=1, batch_size=64), top=10, runs=20)
        if prof.total_ms == pytest.approx(prof.wall_ms, rel=0.10):
            break
    return prof


@pytest.fixture(scope="module")
def int8_64() -> OperatorProfile:
    return profile_config(lab.Config(model="digits-mlp", threads=1, batch_size=64, quant="int8-dynamic"),
                          top=10, runs=20)


def test_operator_times_sum_to_the_measured_latency(fp32_64):
    # The test: the profile's operator times sum to within 10 % of the measured latency
    # (the wall time per forward around the same profiled calls).
    assert fp32_64.total_ms == pytest.approx(fp32_64.wall_ms, rel=0.10)
    assert fp32_64.coverage == pytest.approx(fp32_64.total_ms / fp32_64.wall_ms)
    # Self times partition the profiled time: they cannot add up to more than the wall clock around them.
    assert fp32_64.total_ms <= fp32_64.wall_ms * 1.02


def test_fp32_top_operator_is_the_matmul(fp32_64):
    # torch 2.x on CPU runs nn.Linear as aten::linear -> aten::addmm; by self time the matmul
    # (addmm, or a oneDNN / mm kernel on another build) leads and linear itself is a thin wrapper.
    top = fp32_64.operators[0]
    assert top.name in {"aten::addmm", "aten::mm", "aten::matmul", "aten::linear", "aten::mkldnn_linear"} \
        or "mkldnn" in top.name, plots.operator_frame(fp32_64)
    assert top.calls == 4  # digits-mlp has four Linear layers, called once each per forward
    assert top.share > 0.5


def test_int8_dynamic_top_operator_is_the_quantized_linear(int8_64):
    top = int8_64.operators[0]
    assert top.name == "quantized::linear_dynamic", plots.operator_frame(int8_64)
    assert top.calls == 4
    assert not any(op.name == "aten::addmm" for op in int8_64.operators)  # no fp32 matmul left


@pytest.mark.parametrize("which", ["fp32_64", "int8_64"])
def test_shares_sum_to_at_most_one_and_ranking_is_ordered(which, request):
    prof = request.getfixturevalue(which)
    shares = [op.share for op in prof.operators]
    assert all(0 < s <= 1 for s in shares)
    assert sum(shares) <= 1 + 1e-9
    assert sum(shares) == pytest.approx(prof.top_ms / prof.total_ms)
    times = [op.ms_per_forward for op in prof.operators]
    assert times == sorted(times, reverse=True)
    assert 0 < prof.top_ms <= prof.total_ms + 1e-12
    assert prof.threads == 1 and prof.device == "cpu" and prof.runs == 20
    assert prof.time_kind == "self CPU time"


def test_top_limits_the_list_but_not_the_total():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with torch_threads(2):
        prof = profile_operators(model, (torch.randn(4, 8),), threads=1, runs=3, warmup=1, top=2)
        assert torch.get_num_threads() == 2  # the caller's thread count is restored
    assert len(prof.operators) == 2 and prof.threads == 1
    assert prof.top_ms <= prof.total_ms


def test_operator_frame_and_bars(fp32_64):
    frame = plots.operator_frame(fp32_64)
    assert list(frame.columns) == ["operator", "calls", "ms_per_forward", "share"]
    assert len(frame) == len(fp32_64.operators)
    assert frame["operator"].iloc[0] == fp32_64.operators[0].name

    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert plots.operator_bars(fp32_64, ax) is ax
    assert ax.get_xlabel() == "self CPU time per forward pass (ms)"
    assert ax.get_ylabel() == "operator"
    assert [t.get_text() for t in ax.get_yticklabels()][0] == fp32_64.operators[0].name
    written = [t.get_text().strip() for t in ax.texts]
    assert written[0] == f"{fp32_64.operators[0].share:.0%}"
    assert len(written) == len(fp32_64.operators)
    assert "digits-mlp fp32, batch 64" in ax.get_title()


def test_plot_writes_small_shares_as_under_one_percent():
    from matplotlib.figure import Figure

    prof = OperatorProfile(operators=(OperatorTime("a", 1, 0.9, 0.9), OperatorTime("b", 2, 0.001, 0.001)),
                           total_ms=1.0, wall_ms=1.1, runs=1, threads=1, device="cpu", time_kind="self CPU time")
    ax = plots.operator_bars(prof, Figure().subplots())
    assert [t.get_text().strip() for t in ax.texts] == ["90%", "<1%"]
    assert prof.outside_ms == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs, field", [
    (dict(top=0), "top"), (dict(runs=0), "runs"), (dict(runs=1.5), "runs"), (dict(runs=True), "runs"),
    (dict(warmup=-1), "warmup"), (dict(threads=0), "threads"),
])
def test_bad_input_is_one_line_naming_the_field(kwargs, field):
    model = torch.nn.Linear(4, 2)
    call = dict(threads=1, **kwargs) if "threads" not in kwargs else kwargs
    with pytest.raises(ValueError) as info:
        profile_operators(model, (torch.randn(1, 4),), **call)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{field}=") and "is not allowed: a whole number from" in message


def test_profile_config_checks_top_and_runs_before_building():
    config = lab.Config(model="digits-mlp", threads=1)
    with pytest.raises(ValueError, match=r"^top=0 is not allowed: a whole number from 1 to"):
        profile_config(config, top=0)
    with pytest.raises(ValueError, match=r"^runs=0 is not allowed: a whole number from 1 to"):
        profile_config(config, runs=0)
