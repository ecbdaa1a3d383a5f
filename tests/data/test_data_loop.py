"""lab.data.loop: the stall fraction measured inside next(iterator), exact with a fake clock; process-tree CPU."""
import gc
import multiprocessing
import time

import pytest
import torch

from lab.data.loop import LoopStats, batch_samples, timed_loop, tree_cpu_s
from lab.data.work import burn_cpu


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_loader(clock, delay_s, batch_size=8, batches_per_epoch=1000, startup_s=0.0):
    """make_iter for a loader that spends delay_s of the fake clock producing each batch."""
    def make_iter():
        clock.now += startup_s
        for _ in range(batches_per_epoch):
            clock.now += delay_s
            yield torch.zeros(batch_size, 4), torch.zeros(batch_size, dtype=torch.int64)
    return make_iter


def fake_step(clock, step_s):
    def step(batch):
        clock.now += step_s
    return step


@pytest.mark.parametrize("delay_s, step_s", [(0.001, 0.003), (0.004, 0.001), (0.002, 0.002), (0.0, 0.005)])
def test_stall_fraction_is_exact_with_a_known_delay_and_step(delay_s, step_s):
    clock = FakeClock()
    stats = timed_loop(fake_loader(clock, delay_s), fake_step(clock, step_s), 1.0, clock=clock)
    assert stats.stall_frac == pytest.approx(delay_s / (delay_s + step_s), abs=1e-12)
    assert stats.wait_s == pytest.approx(stats.batches * delay_s)
    assert stats.sps == pytest.approx(8 / (delay_s + step_s))
    assert stats.samples == 8 * stats.batches and stats.seconds >= 1.0


def test_loader_alone_waits_the_whole_time():
    clock = FakeClock()
    stats = timed_loop(fake_loader(clock, 0.002, batch_size=4), None, 0.5, clock=clock)
    assert stats.stall_frac == pytest.approx(1.0)
    assert stats.sps == pytest.approx(4 / 0.002)


def test_startup_is_kept_apart_and_warmup_is_untimed():
    clock = FakeClock()
    stats = timed_loop(fake_loader(clock, 0.001, startup_s=0.5), fake_step(clock, 0.001), 0.1, clock=clock,
                       warmup_batches=3)
    assert stats.startup_s == pytest.approx(0.501)  # start-up and the first batch
    assert stats.stall_frac == pytest.approx(0.5)   # the start-up is not in the window


def test_an_epoch_ending_inside_the_window_restarts_and_counts_as_waiting():
    clock = FakeClock()
    # 10 batches per epoch, 0.3 s of start-up per new iterator: each restart is a stall the step waits for.
    stats = timed_loop(fake_loader(clock, 0.01, batches_per_epoch=10, startup_s=0.3), fake_step(clock, 0.01), 1.0,
                       clock=clock, warmup_batches=1)
    assert stats.epochs_restarted >= 1
    expected_wait = stats.batches * 0.01 + stats.epochs_restarted * 0.3
    assert stats.wait_s == pytest.approx(expected_wait)


def test_on_start_is_called_when_the_window_opens():
    clock, seen = FakeClock(), []
    timed_loop(fake_loader(clock, 0.001, startup_s=1.0), None, 0.01, clock=clock, warmup_batches=2,
               on_start=lambda: seen.append(clock.now))
    assert seen == [pytest.approx(1.002)]


def test_on_stop_follows_the_last_clock_read_while_the_iterator_is_still_open():
    clock, events, reads = FakeClock(), [], []
    loader = fake_loader(clock, 0.001, startup_s=1.0)

    def make_iter():
        try:
            yield from loader()
        finally:  # runs when the iterator is closed (freed): a DataLoader iterator stops its workers here
            events.append("closed")

    def reading_clock():
        reads.append(clock.now)
        return clock.now

    stats = timed_loop(make_iter, fake_step(clock, 0.001), 0.01, clock=reading_clock, warmup_batches=2,
                       on_stop=lambda: events.append(("stop", clock.now, len(reads))))
    gc.collect()
    assert events == [("stop", pytest.approx(reads[-1]), len(reads)), "closed"]  # no clock read after on_stop
    assert reads[-1] - stats.seconds == pytest.approx(1.004)  # the window opened after start-up and 2 warm-up steps


def test_loop_stats_and_batch_samples():
    assert LoopStats(samples=10, batches=2, seconds=0.0, wait_s=0.0, startup_s=0.0).sps != LoopStats(
        samples=10, batches=2, seconds=0.0, wait_s=0.0, startup_s=0.0).sps  # NaN for an empty window
    assert batch_samples((torch.zeros(5, 3), torch.zeros(5))) == 5
    assert batch_samples(torch.zeros(7, 2)) == 7


def test_tree_cpu_counts_a_child_process():
    before_own, before_tree = time.process_time(), tree_cpu_s()
    child = multiprocessing.get_context("fork").Process(target=burn_cpu, args=(300,))  # ms
    child.start()
    child.join()
    own, tree = time.process_time() - before_own, tree_cpu_s() - before_tree
    assert tree - own >= 0.25  # the child's 0.3 s of CPU (reaped) is in the tree, not in process_time
