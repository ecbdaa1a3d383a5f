"""python -m lab figures: from a study's results or the store; bad input is one line and exit 2."""
import io
import json

import pandas as pd
import pytest
from helpers import assert_one_error_line
from paper_rows import make_rows, make_sensitivity

from lab.cli import BadInput, _Parser
from lab.paper import cli as paper_cli

STUDY = """name = "synthetic"
repeats = 3
[grid]
model = ["digits-mlp"]
batch_size = [1, 4, 16, 64]
quant = ["fp32", "bf16"]
[sensitivity]
models = ["digits-mlp"]
"""
QUERY = "quant != 'bf16'"


def run(*argv):
    parser = _Parser(prog="python -m lab")
    paper_cli.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    args = parser.parse_args(["figures", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = paper_cli.cmd_figures(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def study(tmp_path):
    """A study file and its results directory as `python -m lab sweep` leaves them."""
    pytest.importorskip("lab.study")
    path = tmp_path / "synthetic.toml"
    path.write_text(STUDY)
    results = tmp_path / "synthetic"
    results.mkdir()
    rows = make_rows(schemes=("fp32", "bf16"))
    (results / "rows.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if not (isinstance(v, float) and pd.isna(v))}) + "\n"
                for r in rows.to_dict("records")))
    manifest = {"name": "synthetic", "row_ids": [int(i) for i in rows["id"]], "complete": True,
                "configs": [{"config_id": c, "row_ids": [int(i) for i in g["id"]]}
                            for c, g in rows.groupby("config_id", sort=False)]}
    (results / "manifest.json").write_text(json.dumps(manifest))
    make_sensitivity()["digits-mlp"].to_csv(results / "sensitivity-digits-mlp.csv", index=False)
    return path


@pytest.fixture
def store(tmp_path):
    from lab.store import Store

    path = tmp_path / "lab.sqlite"
    s = Store(path)
    for row in make_rows().drop(columns=["id"]).to_dict("records"):
        s.add({k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}, {"env_id": "e1"})
    return path


def test_figures_from_a_study(tmp_path, study):
    out = tmp_path / "figs"
    code, printed, err = run(str(study), "--out", str(out), "--size", "single", "--format", "svg")
    assert code == 0, err
    assert str(out / "latency-throughput-single.svg") in printed.splitlines()
    assert str(out / "sensitivity-single.json") in printed.splitlines()
    card = json.loads((out / "accuracy-latency-single.json").read_text())
    assert card["study_file"] == str(study) and card["manifest"]["name"] == "synthetic" and card["query"] is None
    assert (out / "results.tex").exists() and (out / "index.md").exists()
    assert "skipped roofline" in err


def test_figures_from_the_store_with_a_query(tmp_path, store):
    out = tmp_path / "figs"
    code, printed, err = run("--store", str(store), "--query", QUERY, "--out", str(out), "--size", "double",
                             "--format", "svg,pdf")
    assert code == 0, err
    assert (out / "energy-by-scheme-double.pdf").exists() and not (out / "energy-by-scheme-double.png").exists()
    card = json.loads((out / "latency-throughput-double.json").read_text())
    assert card["query"] == QUERY and card["manifest"] is None
    expected = make_rows().query(QUERY + " and error.isna()", engine="python")
    assert len(card["row_ids"]) == len(expected)  # bf16 rows and the failed row left out
    assert "bf16" not in (out / "results.md").read_text()


def test_a_bad_query_is_one_line(tmp_path, store):
    assert_one_error_line(*run("--store", str(store), "--query", "quant ==", "--out", str(tmp_path / "o")),
                          "--query", "pandas query")
    assert_one_error_line(*run("--store", str(store), "--query", "nosuchcolumn > 1", "--out", str(tmp_path / "o")),
                          "nosuchcolumn")


def test_no_rows_match(tmp_path, store):
    assert_one_error_line(*run("--store", str(store), "--query", "quant == 'fp4'", "--out", str(tmp_path / "o")),
                          "matches no rows")
    assert not (tmp_path / "o").exists()


def test_missing_results_tell_the_user_to_sweep(tmp_path, study):
    (study.parent / "synthetic" / "rows.jsonl").unlink()
    assert_one_error_line(*run(str(study), "--out", str(tmp_path / "o")), "python -m lab sweep")


def test_missing_study_or_store_file(tmp_path):
    assert_one_error_line(*run(str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")), "does not exist")
    assert_one_error_line(*run("--store", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "o")),
                          "does not exist")
    assert not (tmp_path / "nope.sqlite").exists()  # not created as an empty store


def test_study_and_store_together_or_neither(tmp_path, study, store):
    assert_one_error_line(*run(str(study), "--store", str(store), "--out", str(tmp_path / "o")), "not both")
    assert_one_error_line(*run("--out", str(tmp_path / "o")), "study file")


def test_unwritable_out(tmp_path, store):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_error_line(*run("--store", str(store), "--out", str(blocker / "figs")), "--out", "writable")


def test_bad_format_is_a_parse_error():
    parser = _Parser(prog="python -m lab")
    paper_cli.add_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    with pytest.raises(BadInput, match="pdf, svg, png"):
        parser.parse_args(["figures", "--out", "x", "--format", "eps"])


def test_help_names_every_figure_and_the_exit_status():
    parser = _Parser(prog="python -m lab")
    figures = paper_cli.add_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    text = figures.format_help()
    for name in ("latency-throughput", "accuracy-latency", "accuracy-energy", "energy-by-scheme", "sensitivity",
                 "roofline", "--query", "--store", "Exit status"):
        assert name in text
