"""Every exercise check says right to the solution and not yet to wrong answers, and never raises.

The solutions are taken from the notebooks themselves (the code block inside the collapsed
<details> markdown cell after the check), so a notebook's solution and its check cannot drift apart."""
import re
from pathlib import Path

import nbformat
import pytest
import torch

from lab import exercises

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def solution(notebook: str, name: str):
    """The function ``name`` defined in a <details> solution cell of ``notebook``."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "<details>" in cell.source and f"def {name}(" in cell.source:
            code = re.search(r"```python\n(.*?)```", cell.source, re.S).group(1)
            scope = {}
            exec(code, scope)
            return scope[name]
    raise AssertionError(f"{notebook} has no <details> solution defining {name}")


def placeholder(w):
    raise NotImplementedError("write this function")


def test_scale_solution_is_right(capsys):
    assert exercises.check_scale(solution("04_quantization.ipynb", "int8_scale")) is True
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
    assert exercises.check_scale(wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and hint in out


def test_zero_fraction_solution_is_right(capsys):
    assert exercises.check_zero_fraction(solution("03_pruning.ipynb", "zero_fraction")) is True
    assert capsys.readouterr().out.strip() == "right"


@pytest.mark.parametrize("wrong, hint", [
    (lambda w: (w == 0).sum(), "count of zeros"),
    (lambda w: (w != 0).float().mean(), "kept"),
    (lambda w: (w.abs() < 1e-3).float().mean(), "tiny"),
    (lambda w: (w == 0).float().mean(dim=0), "one number"),
    (placeholder, "NotImplementedError"),
])
def test_zero_fraction_wrong_answers_are_not_yet(wrong, hint, capsys):
    assert exercises.check_zero_fraction(wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and hint in out


def test_checks_agree_with_lab_teach_and_hand_arithmetic():
    w = torch.tensor([[0.1, -0.2], [0.4, -0.8]])
    assert float(exercises.quantization.affine_params(w, 8)[0]) == pytest.approx(0.8 / 127)
    assert exercises.check_scale(lambda t: float(exercises.quantization.affine_params(t, 8)[0])) is True
    assert exercises.check_scale(lambda t: t.abs().max().item() / 127) is True   # a plain float is fine
    assert exercises.check_zero_fraction(lambda t: exercises.pruning.removed_fraction(t != 0)) is True


def test_the_student_function_cannot_change_the_cases():
    def vandal(w):
        w.zero_()
        return 0.0
    assert exercises.check_zero_fraction(vandal) is False
    assert exercises.check_zero_fraction(lambda w: float((w == 0).float().mean())) is True
