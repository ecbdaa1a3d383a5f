"""``python -m lab notebooks``: runs notebooks headless in a fresh kernel each, one line per notebook with
its time; a failing notebook names its cell and error and the others still run; bad names are one line."""
import os

import nbformat
import pytest

from helpers import run_main
from lab import notebook_runner


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """Two notebooks of our own in place of the workshop's: 01 works (and uses an interact widget), 02 fails."""
    cell = nbformat.v4.new_code_cell
    working = nbformat.v4.new_notebook(cells=[
        cell("import os, ipywidgets as widgets\nprint('smoke', os.environ.get('LAB_SMOKE'), os.environ.get('LAB_STORE'))"),
        cell("widgets.interact(lambda x=1: print('drawn', x), x=(0, 3));"),
        cell("print('after the widget')")])
    failing = nbformat.v4.new_notebook(cells=[cell("print('first')"), cell("1 / 0"), cell("print('never')")])
    for name, nb in (("01_works", working), ("02_fails", failing)):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    monkeypatch.setattr(notebook_runner, "NOTEBOOKS", tmp_path)
    monkeypatch.delenv("LAB_SMOKE", raising=False)
    monkeypatch.delenv("LAB_STORE", raising=False)
    return tmp_path


@pytest.mark.slow
def test_each_notebook_runs_and_says_how_long_and_a_failure_names_its_cell(notebooks, tmp_path, monkeypatch):
    out_dir, store = tmp_path / "executed", tmp_path / "mine.sqlite"
    code, out, err = run_main(["notebooks", "--smoke", "--store", store, "--out", out_dir, "--timeout", "120"])
    assert code == 1, err  # one notebook failed
    works, fails, summary = out.strip().splitlines()
    assert works.startswith("01_works") and works.endswith(" ok") and " smoke " in works
    assert fails.startswith("02_fails") and "FAILED at cell 1: ZeroDivisionError: division by zero" in fails
    seconds = float(works.split()[2])
    assert seconds > 0 and f"{seconds:.1f} s" in works
    both = seconds + float(fails.split()[2])
    assert summary.startswith("2 notebooks, smoke mode: ") and summary.endswith(" s in all; 1 failed")
    assert abs(float(summary.split(": ")[1].split()[0]) - both) <= 0.11  # the sum of the two, as printed
    executed = nbformat.read(out_dir / "01_works.ipynb", as_version=4)
    printed = ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream") for c in executed.cells]
    assert printed[0].strip() == f"smoke 1 {store}"      # the kernel saw --smoke and --store
    assert "drawn 1" in printed[1]                        # the widget's output, in the cell (no Output mimic)
    assert printed[2].strip() == "after the widget"
    assert "running (smoke mode)" in err
    assert "LAB_SMOKE" not in os.environ and "LAB_STORE" not in os.environ  # set in the kernels, not here


def test_names_pick_notebooks_and_a_wrong_name_is_one_line(notebooks):
    assert [p.stem for p in notebook_runner.find(["02"])] == ["02_fails"]
    assert [p.stem for p in notebook_runner.find(["01_works", "01"])] == ["01_works"]
    assert [p.stem for p in notebook_runner.find([])] == ["01_works", "02_fails"]
    code, out, err = run_main(["notebooks", "7"])
    assert code == 2 and out == ""
    assert err.strip() == "error: notebook='7' is not allowed: one of 01_works, 02_fails (a number like 03 is enough)"
    code, _, err = run_main(["notebooks", "--timeout", "0"])
    assert code == 2 and err.strip() == "error: --timeout=0 is not allowed: a number of seconds, at least 1"
