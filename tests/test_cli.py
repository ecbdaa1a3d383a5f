"""``python -m lab``: bad input is one clean line, runs stream rows in every format and resume.

Most tests call ``lab.cli.main`` in-process (fast: torch is imported once); a few
run a real ``python -m lab`` to prove no traceback ever reaches the terminal.
Every ``run`` uses ``--quick``. The autouse fixture in conftest gives each test
its own LAB_STORE, which subprocesses inherit.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import lab
from lab import columns
from helpers import assert_one_error_line, lines, run_main
from lab.transforms.prune import METHODS as PRUNE_METHODS
from lab.models import registry
from lab.store import Store

ROOT = Path(__file__).resolve().parent.parent
SMALL_GRID = ["--model", "digits-mlp", "--batch", "1,4", "--quant", "fp32,bf16", "--threads", "1", "--quick"]
ENV_COLUMNS = ("config_id", "env_id", "torch_version", "cpu_model", "lab_version", "git_sha")


def run_cli(argv, timeout=120):
    """A real ``python -m lab`` subprocess (inherits LAB_STORE from the test's environment)."""
    return subprocess.run([sys.executable, "-m", "lab", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=os.environ.copy())


def store_path() -> str:
    return os.environ["LAB_STORE"]


# --- bad input ------------------------------------------------------------------------------------

@pytest.fixture
def not_a_store(tmp_path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a results store\n" * 20)
    return path


def _prune_with_method() -> list[str]:
    """A real pruning method when lab has one; otherwise name the only method ('none') explicitly."""
    real = [m for m in PRUNE_METHODS if m != "none"]
    return ["--prune", real[0] if real else "none"]


BAD_RUN_ARGS = {
    "batch-zero": (["--batch", "0"], ("batch_size", "--batch")),
    "batch-text": (["--batch", "abc"], ("batch_size", "--batch")),
    "sparsity-no-method": (["--sparsity", "1.5"], ("sparsity",)),
    "sparsity-with-method": ([*_prune_with_method(), "--sparsity", "1.5"], ("sparsity",)),
    "threads-zero": (["--threads", "0"], ("threads",)),
    "quant-unknown": (["--quant", "int3-magic"], ("quant",)),
    "batch-empty-item": (["--batch", "1,,2"], ("batch_size",)),
}


@pytest.mark.parametrize("extra,fields", BAD_RUN_ARGS.values(), ids=BAD_RUN_ARGS.keys())
def test_bad_run_input_is_one_error_line_naming_the_field(extra, fields):
    code, out, err = run_main(["run", "--model", "digits-mlp", "--quick", *extra])
    assert_one_error_line(code, out, err, any_of=fields)
    assert out == ""
    assert len(Store(store_path())) == 0  # nothing measured


def test_sparsity_with_unknown_prune_method_names_a_field():
    code, out, err = run_main(["run", "--model", "digits-mlp", "--prune", "no-such-method",
                               "--sparsity", "1.5", "--quick"])
    assert_one_error_line(code, out, err, any_of=("prune_method", "sparsity"))


def test_unknown_model_is_one_error_line():
    code, out, err = run_main(["run", "--model", "no-such-model", "--quick"])
    assert_one_error_line(code, out, err, any_of=("model",))
    assert "digits-mlp" in err  # says what is allowed


def test_text_file_as_store_is_refused_and_left_alone(not_a_store):
    before = not_a_store.read_bytes()
    code, out, err = run_main(["run", "--model", "digits-mlp", "--quick", "--store", str(not_a_store)])
    assert_one_error_line(code, out, err, any_of=("store",))
    assert not_a_store.read_bytes() == before

    code, out, err = run_main(["export", "--out", str(not_a_store.with_suffix(".csv")), "--store", str(not_a_store)])
    assert_one_error_line(code, out, err, any_of=("store",))
    assert not not_a_store.with_suffix(".csv").exists()


def test_export_unknown_format_is_one_error_line(tmp_path):
    code, out, err = run_main(["export", "--format", "xml", "--out", str(tmp_path / "x.xml")])
    assert_one_error_line(code, out, err, any_of=("format",))
    assert not (tmp_path / "x.xml").exists()


def test_export_unknown_suffix_without_format_is_one_error_line(tmp_path):
    code, out, err = run_main(["export", "--out", str(tmp_path / "x.txt")])
    assert_one_error_line(code, out, err, any_of=("format",))


def test_subprocess_bad_batch_has_no_traceback():
    proc = run_cli(["run", "--model", "digits-mlp", "--batch", "0", "--quick"])
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, any_of=("batch_size", "--batch"))
    assert proc.stdout == ""


def test_subprocess_text_store_and_xml_export_have_no_traceback(not_a_store, tmp_path):
    proc = run_cli(["run", "--model", "digits-mlp", "--quick", "--store", str(not_a_store)])
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, any_of=("store",))

    proc = run_cli(["export", "--format", "xml", "--out", str(tmp_path / "x.xml")])
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, any_of=("format",))


def test_subprocess_run_help_mentions_comma_lists():
    proc = run_cli(["run", "--help"])
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    assert "comma list" in text
    assert "--batch" in text and "--quick" in text
    assert "Traceback" not in proc.stderr


# --- run: table, resume, force --------------------------------------------------------------------

def test_run_table_then_resume_then_force():
    code, out, err = run_main(["run", *SMALL_GRID])
    assert code == 0, err
    out_lines = lines(out)
    assert len(out_lines) == 5, out  # header + 4 rows
    header = out_lines[0].split()
    assert header[0] == "model" and "latency_ms_p50" in header and "batch_size" in header
    assert all(line.startswith("digits-mlp") for line in out_lines[1:])
    assert {tuple(line.split()[1:2]) for line in out_lines[1:]} == {("fp32",), ("bf16",)}
    store = Store(store_path())
    assert len(store) == 4
    assert len({r["config_id"] for r in store.rows()}) == 4
    assert all(r["error"] is None for r in store.rows())

    # Nothing new to measure, except a row measured while other processes held the cores: the
    # reuse rule never serves those (on a quiet machine there are none).
    contended = sum(bool(r.get("contended")) for r in store.rows())
    code, out, err = run_main(["run", *SMALL_GRID])
    assert code == 0, err
    assert len(lines(out)) == 5  # still shown, from the store
    assert len(store) == 4 + contended
    assert re.search(rf"\b{4 - contended} of 4 configurations were already in\b", err) or contended == 4, err

    code, out, err = run_main(["run", *SMALL_GRID, "--force"])
    assert code == 0, err
    assert len(lines(out)) == 5
    assert len(store) == 8 + contended
    assert "already in" not in err
    rows = store.rows()
    assert len({r["config_id"] for r in rows}) == 4  # each configuration twice
    assert all(r["error"] is None for r in rows)


# --- run: json and csv carry the vocabulary ----------------------------------------------------------

def test_run_json_lines_carry_the_vocabulary():
    code, out, err = run_main(["run", "--model", "digits-mlp", "--batch", "1,3", "--threads", "1",
                               "--quick", "--format", "json"])
    assert code == 0, err
    rows = [json.loads(line) for line in lines(out)]  # every line is one JSON object
    assert len(rows) == 2
    assert sorted(r["batch_size"] for r in rows) == [1, 3]
    for row in rows:
        assert row["model"] == "digits-mlp" and row["threads"] == 1 and row["quant"] == "fp32"
        assert row["error"] is None
        assert row["latency_ms_p50"] > 0
        expected = row["batch_size"] / (row["latency_ms_p50"] / 1000)
        assert math.isclose(row["throughput_sps"], expected, rel_tol=1e-9)
        assert row["energy_source"] in {"nvml", "rapl", "estimate"}
        assert isinstance(row["energy_note"], str) and row["energy_note"].strip()
        assert 0.0 <= row["accuracy"] <= 1.0
        assert isinstance(row["noisy"], bool)
        assert isinstance(row["samples"], int) and row["samples"] >= 10
        for name in ENV_COLUMNS:
            assert isinstance(row.get(name), str) and row[name], name
        assert row["lab_version"] == lab.__version__
        assert row["torch_version"] == torch.__version__
        known = [k for k in row if k in columns.COLUMNS]
        assert known == [c for c in columns.COLUMNS if c in row]  # vocabulary order
    assert len(Store(store_path())) == 2


def test_run_csv_parses_with_the_vocabulary_header():
    code, out, err = run_main(["run", "--model", "digits-mlp", "--batch", "1,2", "--quant", "fp32,bf16",
                               "--threads", "1", "--quick", "--format", "csv"])
    assert code == 0, err
    reader = csv.DictReader(io.StringIO(out))
    rows = list(reader)
    assert len(rows) == 4
    vocabulary = list(columns.COLUMNS)
    assert reader.fieldnames[:len(vocabulary)] == vocabulary
    assert set(reader.fieldnames[len(vocabulary):]) <= {"from_store", "id"}
    for row in rows:
        assert row["model"] == "digits-mlp"
        assert float(row["latency_ms_p50"]) > 0
        assert row["energy_source"] in {"nvml", "rapl", "estimate"}
        assert row["error"] == ""
        assert row["config_id"] and row["env_id"]
    assert sorted((r["quant"], int(r["batch_size"])) for r in rows) == \
        [("bf16", 1), ("bf16", 2), ("fp32", 1), ("fp32", 2)]


# --- export ----------------------------------------------------------------------------------------

def test_export_parquet_and_csv_hold_every_stored_row(tmp_path):
    code, _, err = run_main(["run", "--model", "digits-mlp", "--batch", "1,2", "--threads", "1", "--quick"])
    assert code == 0, err
    stored = len(Store(store_path()))
    assert stored == 2

    parquet = tmp_path / "out" / "X.parquet"
    code, out, err = run_main(["export", "--format", "parquet", "--out", str(parquet)])
    assert code == 0, err
    df = pd.read_parquet(parquet)
    assert len(df) == stored
    assert {"id", "config_id", "latency_ms_p50", "energy_source"} <= set(df.columns)
    assert (df["latency_ms_p50"] > 0).all()
    assert f"wrote {stored} rows" in out

    csv_path = tmp_path / "X.csv"
    code, out, err = run_main(["export", "--out", str(csv_path)])  # format from the suffix
    assert code == 0, err
    df_csv = pd.read_csv(csv_path)
    assert len(df_csv) == stored
    assert sorted(df_csv["id"]) == sorted(df["id"])
    assert sorted(df_csv["batch_size"]) == [1, 2]


def test_export_from_a_path_with_no_store_is_one_line_and_creates_nothing(tmp_path):
    out_path = tmp_path / "empty.csv"
    code, out, err = run_main(["export", "--out", str(out_path), "--store", str(tmp_path / "typo.sqlite")])
    assert_one_error_line(code, out, err, "store=", "holds no lab store")
    assert not out_path.exists() and not (tmp_path / "typo.sqlite").exists()


def test_a_store_in_a_directory_that_does_not_exist_is_one_line(tmp_path):
    code, out, err = run_main(["run", "--model", "digits-mlp", "--quick", "--store", str(tmp_path / "no" / "s.sqlite")])
    assert_one_error_line(code, out, err, "store=", "directory that does not exist")
    assert not (tmp_path / "no").exists()


def test_a_device_this_machine_lacks_is_an_error_row_not_bad_input(fake_measure):
    code, out, err = run_main(["run", "--model", "digits-mlp", "--device", "cuda:7", "--format", "json"])
    assert code == 1 and "1 of 1 configurations failed" in err
    assert json.loads(out)["error"].startswith("unsupported: device=cuda:7 is not on this machine")
    assert fake_measure.calls == []


# --- env and models --------------------------------------------------------------------------------

def test_env_table_names_cpu_torch_and_energy():
    from lab import hardware

    code, out, err = run_main(["env"])
    assert code == 0, err
    assert hardware.cpu_model() in out
    assert torch.__version__ in out
    energy_lines = [line for line in out.splitlines() if line.strip().startswith("energy")]
    assert energy_lines, out
    assert any(src in energy_lines[0] for src in ("nvml", "rapl", "estimate"))


def test_env_json_lists_devices_with_their_energy_source():
    code, out, err = run_main(["env", "--format", "json"])
    assert code == 0, err
    info = json.loads(out)
    assert info["torch_version"] == torch.__version__
    assert info["devices"], info
    assert info["devices"][0]["device"] == "cpu"
    for dev in info["devices"]:
        assert dev["energy_source"] in {"nvml", "rapl", "estimate"}
        assert dev["energy_note"]


def test_env_explains_the_energy_choice_on_this_machine():
    from lab.measure import energy

    code, out, err = run_main(["env"])
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.strip().startswith("energy"))
    assert line.split(None, 1)[1] == energy.explain("cpu")
    source = energy.choose_source("cpu")
    if source.name == "estimate":  # then it must say why no counter was used, and what it assumed
        assert source.reason and source.reason in line
        assert "W per busy core" in line


def test_env_ceilings_are_measured_once_then_read_from_the_store(monkeypatch, tmp_path):
    from lab import roofline

    calls = []

    def fake(device):
        calls.append(device)
        return {"device": device, "threads": 2, "peak_gflops": {"fp32": 123.4}, "bandwidth_gbs": 9.87,
                "measured_at": "2026-01-01T00:00:00+00:00"}

    monkeypatch.setattr(roofline, "measure_ceilings", fake)
    roofline.clear_cache()
    try:
        store = str(tmp_path / "c.sqlite")
        code, out, err = run_main(["env", "--ceilings", "--store", store])
        roofline.clear_cache()  # as a new process would: only the store remembers
        again = run_main(["env", "--ceilings", "--store", store, "--format", "json"])
    finally:
        roofline.clear_cache()
    assert code == 0, err
    assert "fp32 123" in out and "copy 9.9 GB/s" in out
    assert json.loads(again[1])["devices"][0]["ceilings"]["bandwidth_gbs"] == 9.87
    assert calls == ["cpu"]
    try:
        code, out, err = run_main(["env", "--ceilings", "--remeasure", "--store", store])
    finally:
        roofline.clear_cache()
    assert code == 0, err
    assert calls == ["cpu", "cpu"]  # measured again on request


def test_models_lists_digits_mlp_with_its_parameter_count():
    expected = sum(p.numel() for p in registry.get("digits-mlp").build().parameters())
    code, out, err = run_main(["models"])
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("digits-mlp"))
    assert str(expected) in row.split()

    code, out, err = run_main(["models", "--format", "json"])
    assert code == 0, err
    found = {m["model"]: m for m in json.loads(out)}
    assert found["digits-mlp"]["params"] == expected


# --- a configuration that fails is stored with its error; the grid goes on --------------------------

class _FailsAboveTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("boom")
        return self.linear(x)


@pytest.fixture
def failing_model():
    name = "test-cli-fails-above-2"
    lab.register_model(name, build=_FailsAboveTwo, make_input=lambda n: torch.randn(n, 8))
    yield name
    registry._REGISTRY.pop(name, None)  # keep the global registry as other tests expect it


def test_failed_configuration_is_stored_with_its_error_and_the_grid_goes_on(failing_model):
    code, out, err = run_main(["run", "--model", failing_model, "--batch", "1,4,2", "--threads", "1", "--quick"])
    assert code == 1, err
    assert "Traceback" not in err
    assert "1 of 3 configurations failed" in err
    out_lines = lines(out)
    assert len(out_lines) == 4  # header + all three rows, the failed one too
    assert "boom" in out_lines[2]

    rows = {r["batch_size"]: r for r in Store(store_path()).rows()}
    assert sorted(rows) == [1, 2, 4]
    assert "boom" in rows[4]["error"]
    for batch in (1, 2):
        assert rows[batch]["error"] is None
        assert rows[batch]["latency_ms_p50"] > 0

    # A rerun retries only the failed configuration (failed rows are not a cache hit), and any
    # row measured while other processes held the cores (never served; none on a quiet machine).
    contended = sum(bool(rows[b].get("contended")) for b in (1, 2))
    code, out, err = run_main(["run", "--model", failing_model, "--batch", "1,4,2", "--threads", "1", "--quick"])
    assert code == 1
    assert f"{2 - contended} of 3 configurations were already in" in err or contended == 2
    assert len(Store(store_path())) == 4 + contended


# --- a pruning method needs its sparsity ------------------------------------------------------------

def test_prune_without_sparsity_is_one_line_not_a_silent_sparsity_0(fake_measure):
    code, out, err = run_main(["run", "--model", "digits-mlp", "--prune", "unstructured", "--quick"])
    assert_one_error_line(code, out, err, "sparsity", "prune_method 'unstructured'", "a number from 0")
    assert fake_measure.calls == []
    code, out, err = run_main(["run", "--model", "digits-mlp", "--prune", "unstructured", "--sparsity", "0,0.5",
                               "--threads", "1", "--quick"])
    assert code == 0, err
    assert [(c.prune_method, c.sparsity) for c in fake_measure.calls] == [("unstructured", 0.0), ("unstructured", 0.5)]


# --- tables line up -------------------------------------------------------------------------------

def _assert_aligned(text: str, left: set[str]):
    """Every cell starts where its header starts (the ``left`` columns: text) or ends where it ends
    (every other column: numbers); the last column may run on; empty cells are skipped."""
    header, *rows = lines(text)
    spans = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", header)]
    assert rows and len(spans) > 2
    for row in rows:
        for name, start, end in spans[:-1]:
            if not row[start:end].strip():
                continue
            if name in left:
                assert row[start] != " " and (start == 0 or row[start - 1] == " "), (name, row)
            else:
                assert row[end - 1] != " " and (end == len(row) or row[end] == " "), (name, row)


def test_run_table_columns_line_up_whatever_the_names(fake_measure):
    code, out, err = run_main(["run", "--model", "digits-mlp,mnist1d-transformer", "--quant", "fp32,int8-dynamic",
                               "--batch", "1,64", "--threads", "1", "--quick"])
    assert code == 0, err
    assert len(lines(out)) == 9
    _assert_aligned(out, {"model", "quant", "prune_method", "device", "energy_source", "noisy", "error"})


def test_models_table_columns_line_up():
    code, out, err = run_main(["models"])
    assert code == 0, err
    _assert_aligned(out, {"model", "metric", "task"})
    code, out, err = run_main(["models", "--schemes"])
    assert code == 0, err
    _assert_aligned(out, {"kind", "name", "devices", "precision", "layers", "what"})


# --- quiet: third-party notices that say nothing to the user are dropped ---------------------------------

def test_torchao_and_pytree_notices_are_dropped_and_nothing_else(caplog):
    import logging

    class Enum:  # stands for one of torchao's Enum classes
        __module__ = "torchao.quantization.granularity"

    def emitted(logger: str, message: str, *args) -> bool:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            logging.getLogger(logger).warning(message, *args)
        return bool(caplog.records)

    notice = ("%s is an Enum subclass and is now natively supported by torch.compile as an opaque value type. "
              "Calling register_constant() on Enum subclasses is deprecated")
    assert not emitted("torchao", "Failed to load /x/site-packages/torchao/_C_mxfp8.cpython-310.so: Could not load")
    assert not emitted("torchao", "Failed to load /x/site-packages/torchao/_C_cutlass_90a.abi3.so: Could not load")
    assert not emitted("torch.utils._pytree", notice, Enum)
    # Anything else still shows: another torchao library, another torchao warning, someone else's Enum.
    assert emitted("torchao", "Failed to load /x/site-packages/torchao/_C.abi3.so: undefined symbol")
    assert emitted("torchao", "Skipping import of cpp extensions due to incompatible torch version")
    assert emitted("torch.utils._pytree", notice, type("Mine", (), {"__module__": "my_models"}))


def test_importing_torchao_through_lab_prints_nothing():
    proc = subprocess.run([sys.executable, "-c", "import lab, torchao, torchao.quantization"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to load" not in proc.stderr and "register_constant" not in proc.stderr, proc.stderr


def test_a_transform_that_touched_little_is_one_warning_line_once(fake_measure, monkeypatch):
    import warnings

    from lab.transforms.touched import CoverageWarning

    plain = type(fake_measure).__call__

    def warning_measure(self, config, budget, **kwargs):  # as lab.prepare's transform warns, per row
        warnings.warn("prune_method 'structured' at sparsity 0.5 touched 34% of the model's parameters",
                      CoverageWarning)
        return plain(self, config, budget, **kwargs)

    monkeypatch.setattr(type(fake_measure), "__call__", warning_measure)
    code, out, err = run_main(["run", "--model", "digits-mlp", "--batch", "1,2,4", "--prune", "structured",
                               "--sparsity", "0.5", "--quick", "--no-store"])
    assert code == 0, err
    warned = [line for line in lines(err) if "touched 34%" in line]
    assert warned == ["warning: prune_method 'structured' at sparsity 0.5 touched 34% of the model's parameters"]
