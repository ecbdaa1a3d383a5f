"""Every exercise check says right to the solution and not yet to wrong answers, and never raises.

The solutions are taken from the notebooks themselves (the code block inside the collapsed
<details> markdown cell after the check), so a notebook's solution and its check cannot drift apart."""
import re
from pathlib import Path

import nbformat
import pytest
import torch

from lab import exercises
from lab.teach import pruning, quantization

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def solution(notebook: str, marker: str, *, first_block: bool = False, scope: dict | None = None) -> dict:
    """The names a <details> solution of ``notebook`` containing ``marker`` defines: its code run in
    ``scope`` (a fresh dict by default), all of it, or with ``first_block`` up to its first blank line."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "<details>" in cell.source and marker in cell.source:
            code = re.search(r"```python\n(.*?)```", cell.source, re.S).group(1)
            scope = {} if scope is None else scope
            exec(code.split("\n\n")[0] if first_block else code, scope)
            return scope
    raise AssertionError(f"{notebook} has no <details> solution containing {marker}")


def not_yet(check, wrong, hint: str, capsys) -> None:
    """``check`` says "not yet" to the wrong answer, with ``hint`` in its reason."""
    assert check(wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and hint in out, out


def placeholder(*args):
    raise NotImplementedError("write this function")


def test_scale_solution_is_right(capsys):
    assert exercises.check_scale(solution("04_quantization.ipynb", "def int8_scale(")["int8_scale"]) is True
    assert capsys.readouterr().out.strip() == "right"


@pytest.mark.parametrize("wrong, hint", [
    (lambda w: w.max() / 127, "magnitude"),
    (lambda w: w.abs().max() / 128, "127"),
    (lambda w: (w.max() - w.min()) / 255, "asymmetric"),
    (lambda w: w.abs().amax(dim=-1) / 127, "one number"),      # per row, not per tensor
    (lambda w: "0.1", ""),
    (placeholder, "NotImplementedError"),
    (lambda w: 1 / 0, "ZeroDivisionError"),
    (None, "function"),
])
def test_scale_wrong_answers_are_not_yet(wrong, hint, capsys):
    not_yet(exercises.check_scale, wrong, hint, capsys)


def test_zero_fraction_solution_is_right(capsys):
    assert exercises.check_zero_fraction(solution("03_pruning.ipynb", "def zero_fraction(")["zero_fraction"]) is True
    assert capsys.readouterr().out.strip() == "right"


@pytest.mark.parametrize("wrong, hint", [
    (lambda w: (w == 0).sum(), "count of zeros"),
    (lambda w: (w != 0).float().mean(), "kept"),
    (lambda w: (w.abs() < 1e-3).float().mean(), "tiny"),
    (lambda w: (w == 0).float().mean(dim=0), "one number"),
    (placeholder, "NotImplementedError"),
])
def test_zero_fraction_wrong_answers_are_not_yet(wrong, hint, capsys):
    not_yet(exercises.check_zero_fraction, wrong, hint, capsys)


def test_checks_agree_with_lab_teach_and_hand_arithmetic():
    w = torch.tensor([[0.1, -0.2], [0.4, -0.8]])
    assert float(quantization.affine_params(w, 8)[0]) == pytest.approx(0.8 / 127)
    assert exercises.check_scale(lambda t: float(quantization.affine_params(t, 8)[0])) is True
    assert exercises.check_scale(lambda t: t.abs().max().item() / 127) is True   # a plain float is fine
    assert exercises.check_zero_fraction(lambda t: pruning.removed_fraction(t != 0)) is True


def test_the_student_function_cannot_change_the_cases():
    def vandal(w):
        w.zero_()
        return 0.0
    assert exercises.check_zero_fraction(vandal) is False
    assert exercises.check_zero_fraction(lambda w: float((w == 0).float().mean())) is True


def test_summary_prediction(capsys):
    assert exercises.check_summary_prediction(solution("01_measuring_right.ipynb", "predicted =", first_block=True)["predicted"])
    assert capsys.readouterr().out.strip() == "right"
    for wrong, hint in [({"mean": 1.0, "p50": 1.0, "p99": 10.0}, "spreads the two slow calls"),
                        ({"mean": 1.18, "p50": 1.18, "p99": 10.0}, "middle call"),
                        ({"mean": 1.18, "p50": 1.0, "p99": 1.0}, "99th and 100th"),
                        ({"mean": None, "p50": None, "p99": None}, "give a number"),
                        ({"mean": 1.18}, "keys"), ("1.18", "dict")]:
        not_yet(exercises.check_summary_prediction, wrong, hint, capsys)


def test_serving_batch(capsys):
    assert exercises.check_serving_batch(solution("02_batch_size.ipynb", "def serving_batch", first_block=True)["serving_batch"]) is True
    assert capsys.readouterr().out.strip() == "right"
    for wrong, hint in [(lambda rows, t: int(rows.loc[rows["latency_ms_p50"] <= t, "batch_size"].max()), "p50"),
                        (lambda rows, t: int(rows.loc[rows["latency_ms_p99"] <= t, "batch_size"].min()), "smallest"),
                        (lambda rows, t: int(rows["batch_size"].max()), "at or under the target"),
                        (lambda rows, t: 1, "largest"),
                        (placeholder, "NotImplementedError")]:
        not_yet(exercises.check_serving_batch, wrong, hint, capsys)


def test_electricity_cost(capsys):
    from lab import costs

    fn = solution("05_energy_carbon_cost.ipynb", "def electricity_usd_per_1m", first_block=True,
                  scope={"costs": costs})["electricity_usd_per_1m"]
    assert exercises.check_electricity_cost(fn) is True
    assert capsys.readouterr().out.strip() == "right"
    assert fn(1.0, 0.15) == pytest.approx(1.0 * 1e3 / 3.6e6 * 0.15)   # 1 mJ x 1e6 = 1 kJ; at $0.15/kWh
    for wrong, hint in [(lambda mj, usd: mj * 1e6 / 3.6e6 * usd, "millijoules left as joules"),
                        (lambda mj, usd: mj * 1e3 / 3.6e3 * usd * 1e3, "a factor a million too high"),
                        (lambda mj, usd: mj / 1e3 / 3.6e6 * usd, "multiply by the million"),
                        (lambda mj, usd: "1", "one number"), (placeholder, "NotImplementedError")]:
        not_yet(exercises.check_electricity_cost, wrong, hint, capsys)


def test_dominates(capsys):
    assert exercises.check_dominates(solution("07_scaling_pareto.ipynb", "def dominates", first_block=True)["dominates"]) is True
    assert capsys.readouterr().out.strip() == "right"
    lat, acc = "latency_ms_p50", "accuracy"
    for wrong, hint in [(lambda a, b: a[lat] < b[lat] and a[acc] > b[acc], "too strict"),
                        (lambda a, b: a[lat] <= b[lat] and a[acc] >= b[acc], "not enough"),
                        (lambda a, b: (a[lat] >= b[lat] and a[acc] <= b[acc]) and (a[lat] > b[lat] or a[acc] < b[acc]),
                         "directions"),
                        (lambda a, b: "yes", "True or False"), (placeholder, "NotImplementedError")]:
        not_yet(exercises.check_dominates, wrong, hint, capsys)


def test_stall_fraction(capsys):
    assert exercises.check_stall_fraction(solution("09_data_pipelines.ipynb", "def stall_fraction(")["stall_fraction"]) is True
    assert capsys.readouterr().out.strip() == "right"
    for wrong, hint in [(lambda w, s: sum(w) / sum(s), "waiting / computing"),
                        (lambda w, s: sum(s) / (sum(w) + sum(s)), "model step"),
                        (lambda w, s: sum(a / (a + b) for a, b in zip(w, s)) / len(w), "per-batch"),
                        (lambda w, s: sum(w), "in seconds"),
                        (lambda w, s: "0.25", "one number"), (placeholder, "NotImplementedError"),
                        (lambda w, s: 1 / 0, "ZeroDivisionError"), (None, "function")]:
        not_yet(exercises.check_stall_fraction, wrong, hint, capsys)


def test_energy_to_accuracy(capsys):
    assert exercises.check_energy_to_accuracy(solution("10_training_energy.ipynb", "def energy_to_accuracy(")["energy_to_accuracy"]) is True
    assert capsys.readouterr().out.strip() == "right"
    for wrong, hint in [(lambda c, t: c[-1]["energy_j"], "end of the run"),
                        (lambda c, t: next((p["seconds"] for p in c if p["accuracy"] >= t), float("nan")), "time (s)"),
                        (lambda c, t: next((p["energy_j"] for p in c if p["accuracy"] > t), float("nan")), ">="),
                        (lambda c, t: next((p["energy_j"] for p in c if p["accuracy"] >= t), 0.0), "math.nan"),
                        (lambda c, t: "12", "a number of joules"), (placeholder, "NotImplementedError"),
                        (lambda c, t: 1 / 0, "ZeroDivisionError"), (None, "function")]:
        not_yet(exercises.check_energy_to_accuracy, wrong, hint, capsys)
