import statistics
import types

import pytest
import torch

from lab.hardware import torch_threads
from lab.measure.sync import device_sync
from lab.measure.timing import TimingPolicy, summarize, time_calls


class FakeClock:
    """A clock that only moves when told to: each call of the workload advances it by a scripted amount."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_summarize_gives_exact_percentiles():
    stats = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stats.p50 == 3.0
    assert stats.iqr == 2.0          # p75 4.0 - p25 2.0
    assert stats.p90 == pytest.approx(4.6)
    assert stats.p99 == pytest.approx(4.96)
    assert stats.mean == 3.0
    assert stats.min == 1.0
    assert stats.n == 5
    assert stats.noisy                # 2.0 / 3.0 > 0.1


def test_noisy_flag_threshold_is_ten_percent_of_the_median():
    steady = summarize([10.0] * 10 + [10.5] * 10)   # IQR 0.5 / median 10.25 < 0.1
    assert not steady.noisy
    spread = summarize([10.0] * 5 + [12.0] * 5)     # IQR 2.0 / median 11 > 0.1
    assert spread.noisy


def test_summarize_refuses_no_samples():
    with pytest.raises(ValueError, match="samples_ms"):
        summarize([])


def test_time_calls_with_a_fake_clock_is_exact():
    clock = FakeClock()
    durations = iter([0.001] * 1000)  # every call takes exactly 1 ms of fake time

    def work():
        clock.now += next(durations)

    policy = TimingPolicy(warmup_runs=3, warmup_s=0.0, min_runs=20, min_time_s=0.01, max_time_s=1.0)
    stats = time_calls(work, policy, clock=clock)
    assert stats.n == 20                          # count reached after time (20 ms >= 10 ms)
    assert stats.p50 == pytest.approx(1.0)
    assert stats.iqr == pytest.approx(0.0, abs=1e-9)
    assert not stats.noisy


def test_time_calls_stops_by_both_count_and_time():
    clock = FakeClock()

    def work():
        clock.now += 0.002

    policy = TimingPolicy(warmup_runs=0, warmup_s=0.0, min_runs=5, min_time_s=0.1, max_time_s=1.0)
    stats = time_calls(work, policy, clock=clock)
    assert stats.n == 50                          # 50 x 2 ms = the 0.1 s minimum, past the 5-call minimum


def test_noisy_samples_get_more_time_until_the_cap():
    clock = FakeClock()
    pattern = [0.001, 0.003]                      # alternating 1 ms / 3 ms: always noisy
    calls = {"n": 0}

    def work():
        clock.now += pattern[calls["n"] % 2]
        calls["n"] += 1

    policy = TimingPolicy(warmup_runs=0, warmup_s=0.0, min_runs=10, min_time_s=0.02, max_time_s=0.2)
    stats = time_calls(work, policy, clock=clock)
    assert stats.noisy
    assert sum(stats.samples_ms) >= 200 - 3       # kept sampling up to max_time_s
    assert statistics.median(stats.samples_ms) == pytest.approx(stats.p50)


def test_warmup_calls_are_not_sampled():
    clock = FakeClock()
    durations = iter([0.1, 0.1] + [0.001] * 100)  # two slow first calls (cold caches)

    def work():
        clock.now += next(durations)

    policy = TimingPolicy(warmup_runs=2, warmup_s=0.0, min_runs=10, min_time_s=0.0, max_time_s=1.0)
    stats = time_calls(work, policy, clock=clock)
    assert max(stats.samples_ms) == pytest.approx(1.0)


def test_sync_is_called_around_every_clock_read():
    clock = FakeClock()
    events = []

    def work():
        events.append("call")
        clock.now += 0.001

    policy = TimingPolicy(warmup_runs=0, warmup_s=0.0, min_runs=3, min_time_s=0.0, max_time_s=1.0)
    time_calls(work, policy, clock=clock, sync=lambda: events.append("sync"))
    timed = events[events.index("call") - 1:] if events[0] == "call" else events
    assert events[-3:] == ["sync", "call", "sync"]
    assert timed.count("call") * 2 <= timed.count("sync") + 1


def test_mps_sync_is_called_around_every_sample():
    clock = FakeClock()
    events = []

    class FakeMps:
        @staticmethod
        def synchronize():
            events.append("sync")

    def work():
        events.append("call")
        clock.now += 0.001

    sync = device_sync("mps", torch_module=types.SimpleNamespace(mps=FakeMps))
    policy = TimingPolicy(warmup_runs=2, warmup_s=0.0, min_runs=4, min_time_s=0.0, max_time_s=1.0)
    stats = time_calls(work, policy, clock=clock, sync=sync)
    # Warm-up calls, one sync to drain them, then sync / call / sync for each of the 4 samples.
    assert events == ["call", "call", "sync"] + ["sync", "call", "sync"] * 4
    assert stats.n == 4 and stats.p50 == pytest.approx(1.0)


def test_threads_are_set_for_the_body_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("stall_p, stall_s", [(0.005, 0.010), (0.02, 0.002), (0.3, 0.0003)])
def test_adaptive_stop_does_not_bias_the_mean(stall_p, stall_s):
    """The default policy stops at the first check where the IQR is steady, else samples on to
    max_time_s. A stop that looked at the samples could favour a lucky spell (rare stalls are
    what make a mean exceed a median); its mean over many runs must match the distribution's.
    Calls: 1 ms with 3 % jitter, plus a stall with probability stall_p (benchmarks/fidelity.py
    compares the lab with references at a fixed count per slice and relies on this test for the stop)."""
    import random

    rng, clock = random.Random(7), FakeClock()

    def work():
        clock.now += 0.001 * (1 + rng.gauss(0, 0.03)) + (stall_s if rng.random() < stall_p else 0.0)

    means = [time_calls(work, TimingPolicy(), clock=clock).mean for _ in range(60)]
    expected_ms = 1.0 + 1e3 * stall_p * stall_s
    assert statistics.fmean(means) == pytest.approx(expected_ms, rel=0.015)


def test_the_probe_makes_the_second_warm_up_call_even_for_a_slow_model():
    clock, calls, probed = FakeClock(), [], []

    def work():
        calls.append(clock.now)
        clock.now += 0.4  # slower than the quick policy's max_time_s (0.3 s)

    def probe(fn):
        probed.append(len(calls))  # the calls made before the probe's own
        fn()

    stats = time_calls(work, TimingPolicy.quick(), clock=clock, probe=probe)
    assert probed == [1]                      # once, as the second call: after the first one's allocations
    assert len(calls) == 2 + stats.n          # two warm-up calls (the probe's included), then the samples
    calls.clear()
    stats = time_calls(work, TimingPolicy.quick(), clock=clock)
    assert len(calls) == 1 + stats.n          # no probe: a call past max_time_s ends the warm-up at once
