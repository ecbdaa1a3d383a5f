"""Every notebook runs top to bottom in smoke mode (LAB_SMOKE=1), and so does every exercise's solution.

The solutions are collapsed <details> markdown cells, which Run All does not run. The test runs each
notebook once with every solution's code inserted as a cell right after its <details> cell; where the
exercise has a check cell (``exercises.check_...``), the check is run again after the solution. So one
run shows: the notebook works as a student opens it (each check says "not yet" to the placeholder),
every solution runs in place, and each check says "right" to its solution.
"""
import re
from pathlib import Path

import nbformat
import pytest

from lab.notebook_runner import headless_client

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SOLUTION = re.compile(r"<details>.*?```python\n(.*?)```", re.S)


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), path.name


def test_no_solution_is_a_code_cell_run_all_would_run():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "solution" not in cell.get("metadata", {}).get("tags", []), (path.name, cell.source[:80])


def with_solutions(nb):
    """(the notebook with each solution inserted after its <details> cell, the check cells to compare)."""
    cells, checks, last_check = [], [], None
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type == "code" and "exercises.check_" in cell.source:
            last_check = cell
        found = SOLUTION.search(cell.source) if cell.cell_type == "markdown" else None
        if found is None:
            continue
        cells.append(nbformat.v4.new_code_cell(found.group(1)))
        if last_check is not None:  # the check cell of this exercise: right after the student's cell, before <details>
            again = nbformat.v4.new_code_cell(last_check.source)
            cells.append(again)
            checks.append((last_check, again))
            last_check = None
    nb.cells = cells
    return nb, checks


def stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_and_its_solutions_run_in_smoke_mode(path, monkeypatch):
    monkeypatch.setenv("LAB_SMOKE", "1")
    nb, checks = with_solutions(nbformat.read(path, as_version=4))
    headless_client(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [(cell.source[:80], o.get("ename"), o.get("evalue")) for cell in nb.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    for student, solved in checks:
        assert stdout(student).startswith("not yet: "), (student.source, stdout(student))
        assert stdout(solved).strip() == "right", (solved.source, stdout(solved))
