"""Contention (CPU used by other processes) with fake /proc/stat, own CPU time and clock: exact answers."""
import pytest

from lab.measure.contention import (
    CONTENDED_OTHER_CPU_FRAC, ContentionPolicy, CpuContention, is_contended, parse_proc_stat,
    run_with_contention,
)


def stat(*per_cpu_busy_idle):
    """/proc/stat text: per CPU (busy ticks, idle ticks); busy split over user/system/steal."""
    lines, total = [], [0] * 10
    for i, (busy, idle) in enumerate(per_cpu_busy_idle):
        f = [busy - 3, 0, 2, idle, 5, 0, 0, 1, 7, 0]  # iowait 5 is not busy; guest 7 is inside user
        lines.append(f"cpu{i} " + " ".join(map(str, f)))
        total = [a + b for a, b in zip(total, f)]
    return "\n".join(["cpu  " + " ".join(map(str, total))] + lines + ["intr 1 2 3", "ctxt 99"]) + "\n"


class Seq:
    """Returns the next value on every call."""

    def __init__(self, *values):
        self.values = list(values)

    def __call__(self):
        return self.values.pop(0)


def meter(texts, own, clock, cpus=(0, 1)):
    return CpuContention(read_stat=Seq(*texts), own_cpu_s=Seq(*own), clock=Seq(*clock), cpus=cpus, clk_tck=100)


def test_parse_proc_stat_busy_excludes_idle_and_iowait():
    text = stat((100, 50), (40, 10))
    assert parse_proc_stat(text, [0, 1]) == (140, 2)
    assert parse_proc_stat(text, [1]) == (40, 1)
    assert parse_proc_stat(text) == (140, 2)  # the all-CPU line; CPUs counted from the cpuN lines
    with pytest.raises(ValueError, match="cpu7"):
        parse_proc_stat(text, [7])


def test_window_other_cpu_frac_exact():
    # 2 CPUs over 2 s = 4 CPU-s. Busy grows 300 ticks = 3 s; we used 1 s: others 2 s = 50 %.
    m = meter([stat((0, 0), (0, 0)), stat((0, 0), (0, 0)), stat((150, 0), (150, 0))],
              own=[10.0, 11.0], clock=[5.0, 7.0])
    assert (m.method, m.cpus, m.resolution_s) == ("proc-stat", 2, 0.01)
    with m.window() as w:
        pass
    assert (w.other_cpu_frac, w.other_cores, w.seconds, w.contended) == (0.5, 1.0, 2.0, True)
    assert w.method == "proc-stat"
    assert w.note == "proc-stat: others used 50% of 2 CPUs over 2 s (±0.01: 10 ms ticks)"


def test_only_our_cpus_count():
    # CPU 1 is outside our affinity: its load is someone else's business.
    m = meter([stat((0, 0), (0, 0))] * 2 + [stat((25, 75), (100, 0))], own=[0.0, 0.125], clock=[0.0, 1.0],
              cpus=[0])
    with m.window() as w:
        pass
    assert w.other_cpu_frac == 0.125  # 0.25 s busy - 0.125 s ours, over 1 s x 1 CPU
    assert is_contended(w.other_cpu_frac) and "CPUs 0 (1)" in m.note


def test_quiet_window_and_clamping():
    m = meter([stat((0, 0))] * 2 + [stat((10, 90))], own=[0.0, 0.25], clock=[0.0, 1.0], cpus=[0])
    with m.window() as w:  # we used 0.25 s, ticks said 0.1 s: rounding, clamped to 0, not negative
        pass
    assert (w.other_cpu_frac, w.contended) == (0.0, False)


def test_unreadable_proc_stat_is_unknown_with_reason():
    def broken():
        raise FileNotFoundError("no /proc here")

    m = CpuContention(read_stat=broken, own_cpu_s=Seq(0.0, 1.0), clock=Seq(0.0, 1.0))
    assert m.method == "unknown"
    assert m.note.startswith("contention unknown: /proc/stat not readable (FileNotFoundError: no /proc here)")
    with m.window() as w:
        pass
    assert (w.other_cpu_frac, w.other_cores, w.contended, w.method) == (None, None, False, "unknown")
    assert w.note == m.note


def test_read_failing_mid_window_is_unknown():
    m = meter([stat((0, 0), (0, 0)), stat((0, 0), (0, 0)), "garbage"], own=[0.0, 1.0], clock=[0.0, 1.0])
    with m.window() as w:
        pass
    assert (w.other_cpu_frac, w.method) == (None, "unknown")
    assert "proc-stat read failed (ValueError" in w.note


def test_given_busy_reader_in_seconds():
    m = CpuContention(busy_cpu_s=Seq(100.0, 103.0), own_cpu_s=Seq(0.0, 1.0), clock=Seq(0.0, 4.0), cpus=[0, 1])
    with m.window() as w:
        pass
    assert (m.method, w.other_cpu_frac) == ("given", 0.25)  # (3 - 1) s over 4 s x 2 CPUs


def test_this_machine_reads_or_says_why():
    m = CpuContention()
    with m.window() as w:
        sum(range(10_000))
    if m.method == "unknown":
        assert w.other_cpu_frac is None and "contention unknown" in w.note
    else:
        assert 0.0 <= w.other_cpu_frac <= 1.0 and m.cpus >= 1


def test_threshold():
    assert CONTENDED_OTHER_CPU_FRAC == 0.10
    assert (is_contended(None), is_contended(0.099), is_contended(0.10), is_contended(0.5, threshold=0.6)) == (
        False, False, True, False)


# ---------------------------------------------------------------- the retry policy

def attempts(*fracs):
    """measure_once returning ('attempt N', frac) in turn, and the list of sleeps."""
    seq = iter(enumerate(fracs))
    slept = []

    def once():
        i, frac = next(seq)
        return f"attempt {i}", frac

    return once, slept


def test_contended_twice_then_clean():
    once, slept = attempts(0.5, 0.3, 0.02)
    out = run_with_contention(once, ContentionPolicy(max_retries=2, pause_s=1.0), method="proc-stat",
                              sleep=slept.append)
    assert (out.result, out.contended, out.contention_retries, out.other_cpu_frac) == ("attempt 2", False, 2, 0.02)
    assert slept == [1.0, 1.0] and out.contention_method == "proc-stat"
    assert out.contention_note == "others used 2% of the CPUs (under 10%), after 2 contended attempt(s) and 1 s pauses"


def test_clean_first_time_no_sleep():
    once, slept = attempts(0.0)
    out = run_with_contention(once, method="psutil", sleep=slept.append)
    assert (out.result, out.contended, out.contention_retries, slept) == ("attempt 0", False, 0, [])
    assert out.as_row() == {"contended": False, "contention_retries": 0, "other_cpu_frac": 0.0,
                            "contention_method": "psutil",
                            "contention_note": "others used 0% of the CPUs (under 10%)"}


def test_always_contended_keeps_least_contended_flagged():
    once, slept = attempts(0.5, 0.25, 0.4)
    out = run_with_contention(once, ContentionPolicy(max_retries=2, pause_s=0.5), method="proc-stat",
                              sleep=slept.append)
    assert (out.result, out.contended, out.contention_retries, out.other_cpu_frac) == ("attempt 1", True, 2, 0.25)
    assert slept == [0.5, 0.5]  # no pause after the last attempt
    assert out.contention_note == ("contended: others used 25% of the CPUs (threshold 10%) in the least "
                                   "contended of 3 attempt(s), 0.5 s apart")


def test_no_retries_allowed():
    once, slept = attempts(0.9)
    out = run_with_contention(once, ContentionPolicy(max_retries=0), method="proc-stat", sleep=slept.append)
    assert (out.contended, out.contention_retries, slept) == (True, 0, [])


def test_unknown_reader_is_not_flagged_and_says_unknown():
    once, slept = attempts(None)
    out = run_with_contention(once, method="unknown", sleep=slept.append)
    assert (out.result, out.contended, out.contention_retries, out.other_cpu_frac, out.contention_method) == (
        "attempt 0", False, 0, None, "unknown")
    assert out.contention_note == "contention unknown for the kept attempt" and slept == []


def test_unreadable_after_contended_stays_flagged():
    once, slept = attempts(0.6, None)
    out = run_with_contention(once, method="proc-stat", sleep=slept.append)
    assert (out.result, out.contended, out.contention_retries, out.other_cpu_frac, out.contention_method) == (
        "attempt 1", True, 1, None, "unknown")
    assert "1 earlier attempt(s) contended (others up to 60%): flagged" in out.contention_note


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"max_retries": 1.5}, {"max_retries": True},
                                    {"pause_s": -1}, {"pause_s": float("nan")}, {"threshold": "x"}])
def test_policy_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ContentionPolicy(**kwargs)
