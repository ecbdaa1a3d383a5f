"""Time- and energy-to-accuracy with a fake clock and a fake counter: exact values. Real training of the
smallest model (digits-mlp, 1 thread, an epoch or two)."""
import math

import pytest

from fakes import quiet_meter
from helpers import StepClock, StepCounter
from lab.train import TrainConfig, time_to_accuracy, train


def test_time_to_accuracy_is_the_first_point_at_or_above_the_target():
    curve = [{"epoch": e, "seconds": 2.0 * e, "energy_j": 5.0 * e, "accuracy": a}
             for e, a in enumerate([0.5, 0.8, 0.95, 0.97], start=1)]
    assert time_to_accuracy(curve, 0.95) == {"reached": True, "tta_s": 6.0, "eta_j": 15.0, "epochs_to_target": 3}
    never = time_to_accuracy(curve, 0.99)
    assert never["reached"] is False and math.isnan(never["tta_s"]) and math.isnan(never["eta_j"])


def run(clock_tick=0.5, joules_per_read=2.0, meter=None, **knobs):
    config = TrainConfig(**{"model": "digits-mlp", "threads": 1, "max_epochs": 2, **knobs})
    clock, counter, points = StepClock(clock_tick), StepCounter(joules_per_read), []
    row = train(config, on_epoch=points.append, clock=clock, energy_source=counter,
                contention=meter or quiet_meter())
    return row, points, clock, counter


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_a_reached_target_gives_exact_tta_and_eta_from_the_fake_clock_and_counter():
    row, points, clock, counter = run(target_accuracy=0.05)  # any trained epoch beats 5 %
    # read once at the start and once at the end of epoch 1: one tick, one step
    assert (row["reached"], row["tta_s"], row["eta_j"], row["epochs"]) == (True, 0.5, 2.0, 1)
    assert (clock.reads, counter.reads) == (2, 2)
    assert row["stopped_by"] == "target" and row["error"] is None and row["energy_source"] == "fake"
    assert row["samples_seen"] == 1437 and row["best_accuracy"] == row["final_accuracy"] >= 0.05
    assert points == row["curve"] and set(points[0]) >= {"epoch", "seconds", "energy_j", "samples_seen", "accuracy"}
    assert row["contended"] is False


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_a_target_never_reached_reports_nan_with_the_best_accuracy_and_the_cost_so_far():
    row, points, _, _ = run(target_accuracy=1.0, max_epochs=2)
    assert row["reached"] is False and math.isnan(row["tta_s"]) and math.isnan(row["eta_j"])
    assert (row["epochs"], row["seconds"], row["energy_j"], row["stopped_by"]) == (2, 1.0, 4.0, "max_epochs")
    assert [p["seconds"] for p in points] == [0.5, 1.0] and [p["energy_j"] for p in points] == [2.0, 4.0]
    assert row["best_accuracy"] == max(p["accuracy"] for p in points) < 1.0
    assert row["samples_seen"] == 2 * 1437


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_the_time_budget_stops_at_the_first_epoch_boundary_past_it():
    row, _, _, _ = run(clock_tick=8.0, target_accuracy=1.0, max_epochs=5, time_budget_s=12.0)
    assert (row["epochs"], row["seconds"], row["stopped_by"], row["reached"]) == (2, 16.0, "time_budget", False)


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_one_contended_epoch_flags_the_row_and_its_point():
    row, points, _, _ = run(meter=quiet_meter(0.5), target_accuracy=0.05)
    assert row["contended"] is True and points[0]["contended"] is True and row["other_cpu_frac"] == 1.0


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_should_stop_cancels_with_error_cancelled():
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3  # a few steps into epoch 1

    config = TrainConfig(model="digits-mlp", threads=1, max_epochs=2, target_accuracy=1.0)
    row = train(config, should_stop=stop, clock=StepClock(0.5), energy_source=StepCounter(1.0),
                contention=quiet_meter())
    assert row["error"] == "cancelled" and row["epochs"] == 0 and row["reached"] is False


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_label_noise_and_data_kept_reach_the_row_with_exact_counts():
    row, _, _, _ = run(target_accuracy=0.05, label_noise=0.2, data_kept=0.5)
    assert (row["n_train"], row["noisy_labels"], row["n_train_kept"], row["samples_seen"]) == (1437, 287, 718, 718)


@pytest.mark.slow
def test_el2n_keeping_counts_the_proxy_run_in_the_cost():
    row, _, clock, _ = run(target_accuracy=0.05, data_kept=0.5, keep_by="el2n")
    # start, after the proxy run, end of epoch 1: the proxy run is inside tta_s
    assert (row["prep_s"], row["prep_energy_j"], row["tta_s"], row["eta_j"]) == (0.5, 2.0, 1.0, 4.0)
    assert row["n_train_kept"] == 718 and clock.reads == 3


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_bf16_trains_under_autocast():
    row, _, _, _ = run(target_accuracy=0.05, precision="bf16")
    assert row["reached"] is True and row["best_accuracy"] > 0.05


@pytest.mark.slow  # real training of digits-mlp: 1-2 s on a quiet machine
def test_on_epoch_time_and_energy_are_not_counted():
    """A live panel draws in on_epoch: that time and energy are excluded from the run's (the clock and
    counter are read again when it returns). Here the drawing takes 3 s and 7 J by the fakes."""
    config = TrainConfig(model="digits-mlp", threads=1, max_epochs=3, target_accuracy=1.0)
    clock, counter, points = StepClock(0.5), StepCounter(2.0), []

    def slow_draw(point):
        points.append(point)
        clock.t += 3.0   # a 3 s redraw
        counter.joules += 7.0

    row = train(config, on_epoch=slow_draw, clock=clock, energy_source=counter, contention=quiet_meter())
    assert [p["seconds"] for p in points] == [0.5, 1.0, 1.5]
    assert [p["energy_j"] for p in points] == [2.0, 4.0, 6.0]
    assert (row["seconds"], row["energy_j"]) == (1.5, 6.0)


def test_one_epoch_reads_the_summed_loss_once_not_every_step(monkeypatch):
    # Every loss.item() is a device sync inside the timed training: one per epoch, not one per step.
    import torch
    from torch import nn

    from lab.models.train import one_epoch

    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    model = nn.Linear(4, 3)
    loss_fn = nn.CrossEntropyLoss()
    expected = sum(loss_fn(model(x[i]), y[i]).item() * len(i)
                   for i in torch.randperm(40, generator=torch.Generator().manual_seed(1)).split(8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: the same losses again
    items = []
    real_item = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: items.append(1) or real_item(self))
    total, seen = one_epoch(model, optimizer, x, y, 8, torch.Generator().manual_seed(1), loss_fn=loss_fn)
    assert seen == 40 and len(items) == 1
    assert total == pytest.approx(expected, rel=1e-6)
