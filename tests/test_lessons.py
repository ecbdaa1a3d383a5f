"""lab.lessons: the notebooks' helpers, with fakes that make the answers exact."""
import math

import matplotlib
import matplotlib.pyplot
import pandas as pd
import pytest
import torch

from lab import lessons

matplotlib.use("Agg")


class FakeClock:
    """Advances ``tick`` seconds on every read; ``fn`` can add more to model a slow call."""

    def __init__(self, tick=0.001):
        self.now, self.tick, self.reads = 0.0, tick, 0

    def __call__(self):
        self.reads += 1
        self.now += self.tick
        return self.now


# --- naive timers -------------------------------------------------------------------------------

def test_naive_samples_time_every_call_from_the_first_cold_one():
    clock = FakeClock(tick=0.001)
    cold = iter([0.050, 0.010])  # the first call takes 50 ms more, the second 10 ms more

    def fn():
        clock.now += next(cold, 0.0)

    samples = lessons.naive_samples_ms(fn, 4, clock=clock)
    assert samples == pytest.approx([51.0, 11.0, 1.0, 1.0])
    assert clock.reads == 8  # two reads per call, nothing else: no warm-up, no extra calls


def test_naive_samples_call_sync_before_every_clock_read_when_given():
    clock, events = FakeClock(), []
    lessons.naive_samples_ms(lambda: events.append("call"), 2, clock=clock, sync=lambda: events.append("sync"))
    assert events == ["sync", "call", "sync"] * 2


def test_loop_mean_folds_the_cold_calls_into_one_number():
    clock = FakeClock(tick=0.001)
    cold = iter([0.090])

    def fn():
        clock.now += next(cold, 0.0)

    # one read before, one after: (1 ms tick + 90 ms cold call) / 10 calls
    assert lessons.loop_mean_ms(fn, 10, clock=clock) == pytest.approx(9.1)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_naive_timers_reject_a_bad_count(n):
    with pytest.raises(ValueError, match="n="):
        lessons.naive_samples_ms(lambda: None, n)
    with pytest.raises(ValueError, match="n="):
        lessons.loop_mean_ms(lambda: None, n)


def test_benchmark_timer_leaves_the_process_thread_count_alone():
    before = torch.get_num_threads()
    x = torch.randn(16, 16)
    ms = lessons.benchmark_timer_ms(lambda: x @ x, num_threads=1, min_run_time=0.01)
    assert ms > 0 and torch.get_num_threads() == before


def test_forward_fn_runs_a_fresh_builtin_model():
    out = lessons.forward_fn("digits-mlp", 3)()
    assert out.shape == (3, 10) and not out.requires_grad


def test_background_load_kills_its_processes_even_on_error():
    with pytest.raises(RuntimeError):
        with lessons.background_load(1) as hogs:
            assert hogs[0].poll() is None  # running
            raise RuntimeError("boom")
    assert hogs[0].poll() is not None
    with lessons.background_load(0) as none:
        assert none == []
    with pytest.raises(ValueError, match="processes="):
        with lessons.background_load(-1):
            pass


# --- batch size ---------------------------------------------------------------------------------

def test_knee_is_the_smallest_batch_within_the_fraction_of_the_best_throughput():
    df = pd.DataFrame({"batch_size": [1, 2, 4, 8, 16, 32],
                       "throughput_sps": [100.0, 180.0, 300.0, 320.0, 330.0, 1e9],
                       "error": [None] * 5 + ["out of memory: ..."]})
    assert lessons.knee(df) == 4  # 0.9 x 330 = 297; the failed row does not count
    assert lessons.knee(df, fraction=1.0) == 16
    assert lessons.knee(df.iloc[5:]) is None
    with pytest.raises(ValueError, match="fraction="):
        lessons.knee(df, fraction=0)


# --- plots ----------------------------------------------------------------------------------------

def test_plot_helpers_draw_what_they_say():
    samples = [1.0] * 90 + [2.0] * 9 + [10.0]
    ax = lessons.latency_histogram(samples)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("p50 = 1 ms") and labels[1].startswith("mean = 1.18 ms")

    df = pd.DataFrame({"batch_size": [4, 1, 4, 1], "throughput_sps": [40.0, 10.0, 80.0, 20.0],
                       "quant": ["fp32", "fp32", "bf16", "bf16"], "latency_ms_p50": [1.0, 2.0, 3.0, 4.0],
                       "accuracy": [0.9, 0.8, 0.95, 0.7], "error": [None] * 4})
    ax = lessons.line(df, "batch_size", "throughput_sps", hue="quant", logx=True)
    assert [list(l.get_xdata()) for l in ax.lines] == [[1, 4], [1, 4]]

    ax = lessons.annotate(matplotlib.pyplot.subplots()[1], df, "latency_ms_p50", "accuracy", "quant")
    assert [t.get_text() for t in ax.texts] == ["fp32", "fp32", "bf16", "bf16"]

    ax = lessons.colour_legend(ax, {"fp32": "red", "bf16": "blue"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fp32", "bf16"]

    ax = lessons.line(df, "batch_size", "throughput_sps", hue="quant")
    knees = lessons.mark_knees(df, ax, hue="quant")
    assert knees == {"fp32": 4, "bf16": 4}  # 40 >= 0.9 x 40 and 80 >= 0.9 x 80
    assert list(ax.lines[-1].get_xdata()) == [4] and list(ax.lines[-1].get_ydata()) == [80.0]

    scan = pd.DataFrame({"layer": ["fc1", "fc1", "fc2", "fc2"], "sparsity": [0.0, 0.5] * 2,
                         "accuracy": [0.9, 0.8, 0.9, 0.3], "params": [100, 100, 20, 20]})
    ax = lessons.sensitivity_heatmap(scan)
    assert ax.images[0].get_array().shape == (2, 2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fc1 (100)", "fc2 (20)"]


def test_table_selects_only_the_columns_present():
    df = pd.DataFrame({"quant": ["fp8"], "error": ["unsupported: ..."]})
    assert list(lessons.table(df, ["quant", "latency_ms_p50", "error"]).columns) == ["quant", "error"]


def test_row_printer_prints_one_line_per_row(capsys):
    show = lessons.row_printer("quant", "latency_ms_p50")
    show({"quant": "fp32", "latency_ms_p50": 1.234567, "error": None, "from_store": True})
    show({"quant": "fp8", "error": "unsupported: needs CUDA"})
    assert capsys.readouterr().out.splitlines() == [
        "quant=fp32  latency_ms_p50=1.235  (from the store)",
        "quant=fp8  error: unsupported: needs CUDA"]


def test_from_dense_starts_every_method_at_the_dense_row():
    df = pd.DataFrame({"prune_method": ["none", "unstructured", "structured"], "sparsity": [0.0, 0.5, 0.5],
                       "accuracy": [0.99, 0.98, 0.9]})
    out = lessons.from_dense(df)
    assert sorted(zip(out["prune_method"], out["sparsity"], out["accuracy"])) == [
        ("structured", 0.0, 0.99), ("structured", 0.5, 0.9),
        ("unstructured", 0.0, 0.99), ("unstructured", 0.5, 0.98)]


def test_ratio_to_is_the_speed_up_over_the_baseline_row_of_the_same_group():
    df = pd.DataFrame({"model": ["m", "m", "m", "m", "n"], "batch_size": [1, 1, 64, 64, 1],
                       "quant": ["fp32", "int8", "fp32", "int8", "int8"],
                       "latency_ms_p50": [2.0, 1.0, 8.0, 16.0, 1.0], "error": [None] * 5})
    assert lessons.ratio_to(df, "quant", "fp32").tolist()[:4] == [1.0, 2.0, 1.0, 0.5]
    assert math.isnan(lessons.ratio_to(df, "quant", "fp32")[4])  # model n has no fp32 row
    df.loc[1, "error"] = "unsupported: x"
    assert math.isnan(lessons.ratio_to(df, "quant", "fp32")[1])


def test_cpu_features_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_int8 sse\n")
    assert lessons.cpu_features(str(cpuinfo)) == ["avx2", "avx512f", "amx_int8"]
    assert lessons.cpu_features(str(tmp_path / "missing")) == []
