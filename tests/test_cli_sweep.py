"""``python -m lab sweep STUDY.toml``: rows stream, a rerun resumes, exit codes as ``run``,
bad study files are one error line.

In-process through lab.cli.main (torch imported once); one real subprocess
proves no traceback reaches the terminal. conftest gives each test its own LAB_STORE.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_one_error_line, lines, run_main
from lab.store import Store

ROOT = Path(__file__).resolve().parent.parent
STUDY = """\
name = "cli-tiny"
repeats = 2
budget = "quick"
[grid]
model = ["digits-mlp"]
batch_size = [1, 2]
threads = [1]
"""


@pytest.fixture
def study_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(STUDY)
    return path


def test_sweep_measures_prints_rows_and_names_the_manifest(study_file):
    code, out, err = run_main(["sweep", study_file])
    assert code == 0, err
    assert len(lines(out)) == 1 + 4  # header, 2 configs x 2 repeats
    manifest_path = study_file.parent / "tiny" / "manifest.json"
    assert lines(err)[-1] == f"manifest: {manifest_path}"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["complete"] and len(manifest["row_ids"]) == 4
    # Repeats are interleaved (repeat 1 of each configuration, then repeat 2), listed by configuration.
    assert manifest["row_ids"] == [1, 3, 2, 4]
    assert sorted(manifest["row_ids"]) == [r["id"] for r in Store().rows()]

    # A rerun measures nothing but what a busy machine disturbed: a contended row is never served.
    contended = sum(bool(r["contended"]) for r in Store().rows())
    code, out, err = run_main(["sweep", study_file])
    assert code == 0
    assert len(Store()) == 4 + contended
    assert f"{contended} rows measured, {4 - contended} reused" in err
    assert len(lines(out)) == 1 + 4  # still shows every row


def test_interrupted_cli_sweep_resumes(study_file, fake_measure):
    fake_measure.interrupt_at = 3
    code, out, err = run_main(["sweep", study_file])
    assert code == 130 and "run again to resume" in err
    assert json.loads((study_file.parent / "tiny" / "manifest.json").read_text())["complete"] is False
    assert len(Store()) == 2

    fake_measure.calls, fake_measure.interrupt_at = [], None
    code, out, err = run_main(["sweep", study_file])
    assert code == 0, err
    assert len(fake_measure.calls) == 2 and "2 rows measured, 2 reused" in err


def test_json_format_store_and_out_flags(study_file, fake_measure, tmp_path):
    store, out_dir = tmp_path / "elsewhere.sqlite", tmp_path / "results"
    code, out, err = run_main(["sweep", study_file, "--format", "json", "--store", store, "--out", out_dir])
    assert code == 0, err
    rows = [json.loads(line) for line in lines(out)]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    assert (out_dir / "manifest.json").exists() and (out_dir / "rows.jsonl").exists()
    assert len(Store(store)) == 4 and len(Store()) == 0

    code, out, err = run_main(["sweep", study_file, "--store", store, "--out", out_dir, "--force"])
    assert code == 0 and len(fake_measure.calls) == 8


def test_failed_configuration_exits_1(tmp_path):
    path = tmp_path / "fails.toml"
    path.write_text(STUDY.replace("batch_size = [1, 2]", 'batch_size = [1]\nquant = ["fp8"]'))  # fp8 needs a GPU
    code, out, err = run_main(["sweep", path])
    assert code == 1, err
    assert "Traceback" not in err
    assert "1 of 1 configurations failed" in err
    assert "unsupported" in out


BAD = {
    "unknown-knob": (STUDY + "batchsize = [1]\n", "grid.batchsize"),
    "empty-grid": ('name = "x"\n[grid]\n', "grid"),
    "syntax": ('name = "x"\n[grid\n', "line 2"),
    "bad-repeats": (STUDY.replace("repeats = 2", "repeats = 0"), "repeats"),
}


@pytest.mark.parametrize("text,word", BAD.values(), ids=BAD.keys())
def test_bad_study_is_one_error_line(tmp_path, text, word):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run_main(["sweep", path])
    assert_one_error_line(code, out, err, word, str(path))
    assert len(Store()) == 0


def test_missing_file_and_bad_flags_are_one_error_line(tmp_path, study_file):
    assert_one_error_line(*run_main(["sweep", tmp_path / "missing.toml"]), "cannot be read")
    assert_one_error_line(*run_main(["sweep", study_file, "--format", "xml"]), "format")
    assert_one_error_line(*run_main(["sweep"]), "study")


def test_help_describes_the_study_file():
    code, out, err = run_main(["sweep", "--help"])
    assert code == 0
    assert "examples/study.toml" in out and "[grid]" in out and "--force" in out


def test_subprocess_missing_study_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lab", "sweep", str(tmp_path / "missing.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, "missing.toml")
