"""lab.train.summary.spread: one line per configuration without its seed, with its rows and epochs statistic."""
import math

from lab.train.summary import spread


def _row(seed, noise, reached, epochs=None, error=None):
    return {"model": "digits-cnn", "label_noise": noise, "seed": seed, "reached": reached, "error": error,
            "tta_s": 1.0 + seed if reached else math.nan, "eta_j": 2.0 + seed if reached else math.nan,
            "epochs_to_target": epochs, "best_accuracy": 0.9}


def test_each_line_keeps_its_rows_and_the_epochs_to_target_of_the_runs_that_reached():
    rows = [_row(0, 0.0, True, 3), _row(1, 0.0, True, 5), _row(2, 0.0, False), _row(0, 0.2, False),
            _row(1, 0.2, False, error="out of memory")]
    clean, noisy = spread(rows)
    assert clean["rows"] == rows[:3] and noisy["rows"] == rows[3:]  # failed rows included, input order
    assert (clean["epochs_to_target_median"], clean["epochs_to_target_min"], clean["epochs_to_target_max"]) == \
        (4.0, 3.0, 5.0)
    assert clean["reached"] == "2/3" and noisy["reached"] == "0/1" and noisy["failed"] == 1
    assert math.isnan(noisy["epochs_to_target_median"])
