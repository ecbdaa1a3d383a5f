"""Studies: the study file's validation (one line per bad input), resuming, the manifest,
rows.jsonl, and a real sweep summarized (lab.summary's own tests: tests/test_summary.py).

Resume logic runs against the counting fake measure of tests/conftest.py (every Bench
measures with it, instantly); one test measures for real with the quick budget.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import lab
from lab import hardware, study as studies
from lab.store import Store
from lab.summary import summarize, within_quality_budget

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
name = "tiny"
repeats = 3
budget = "quick"
[grid]
model = ["digits-mlp"]
batch_size = [1, 2]
threads = [1]
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- loading --------------------------------------------------------------------------------------

def test_example_study_loads():
    study = studies.load(ROOT / "examples" / "study.toml")
    assert study.name == "digits-precision"
    assert study.repeats == 3 and study.seeds == (0,) and study.devices == ("cpu",)
    assert len(study.configs()) == 9
    assert study.results_dir == ROOT / "examples" / "study"
    assert study.quality.max_drop == 0.01 and study.quality.baseline == {"quant": "fp32"}
    assert study.sensitivity.models == ("digits-cnn",)


def test_defaults_and_grid_order(tmp_path):
    path = write(tmp_path, 'name = "x"\n[grid]\nmodel = "digits-mlp"\nbatch_size = [4, 1]\nquant = ["bf16", "fp32"]\n')
    study = studies.load(path)
    assert (study.repeats, study.seeds, study.devices, study.budget) == (1, (0,), ("cpu",), "default")
    assert study.quality is None and study.sensitivity is None
    assert [(c.batch_size, c.quant) for c in study.configs()] == [(4, "bf16"), (4, "fp32"), (1, "bf16"), (1, "fp32")]
    assert study.budget_policy == lab.Budget()
    assert studies.load(path, results_dir=tmp_path / "elsewhere").results_dir == tmp_path / "elsewhere"


def test_seeds_become_the_seed_knob(tmp_path):
    study = studies.load(write(tmp_path, GOOD.replace("repeats = 3", "seeds = [0, 7]")))
    assert [(c.batch_size, c.seed) for c in study.configs()] == [(1, 0), (1, 7), (2, 0), (2, 7)]


def test_baseline_collapsed_by_the_grid_is_found(tmp_path):
    # prune_method none makes sparsity 0 even though the sparsity list is [0.5]: that is the baseline
    text = GOOD + 'prune_method = ["none", "unstructured"]\nsparsity = [0.5]\n[quality]\nmax_drop = 0.01\n'
    study = studies.load(write(tmp_path, text))
    assert study.quality.baseline["sparsity"] == 0.0


def test_default_baseline_missing_from_the_grid_says_so(tmp_path):
    with pytest.raises(ValueError, match="quality.baseline.width=1.0 .*default baseline") as info:
        studies.load(write(tmp_path, GOOD + "width = [0.5]\n[quality]\nmax_drop = 0.01\n"))
    assert "\n" not in str(info.value)


def test_quality_default_baseline(tmp_path):
    study = studies.load(write(tmp_path, GOOD + "[quality]\nmax_drop = 0.02\n"))
    assert study.quality == studies.Quality(max_drop=0.02, baseline=studies.DEFAULT_BASELINE)


BAD_STUDIES = {
    "toml-syntax": ('name = "x"\n[grid\nmodel = ["digits-mlp"]\n', "line 2"),
    "toml-eof": ('name = "x"\ngrid = [\n', "not valid TOML"),
    "unknown-top-key": ('colour = "blue"\n' + GOOD, "colour='blue' is not allowed: a study key"),
    "unknown-knob": (GOOD + 'batchsize = [1]\n', "grid.batchsize"),
    "missing-grid": ('name = "x"\n', "grid"),
    "empty-grid": ('name = "x"\n[grid]\n', "grid"),
    "empty-knob-list": (GOOD + "quant = []\n", "grid.quant"),
    "grid-without-model": ('name = "x"\n[grid]\nbatch_size = [1]\n', "grid.model"),
    "device-in-grid": (GOOD + 'device = ["cpu"]\n', "grid.device"),
    "seed-in-grid": (GOOD + "seed = [1]\n", "grid.seed"),
    "missing-name": ('[grid]\nmodel = ["digits-mlp"]\n', "name"),
    "bad-name": ('name = "a b/c"\n[grid]\nmodel = ["digits-mlp"]\n', "name"),
    "repeats-zero": (GOOD.replace("repeats = 3", "repeats = 0"), "repeats"),
    "repeats-too-many": (GOOD.replace("repeats = 3", "repeats = 101"), "repeats"),
    "repeats-text": (GOOD.replace("repeats = 3", 'repeats = "3"'), "repeats"),
    "repeats-bool": (GOOD.replace("repeats = 3", "repeats = true"), "repeats"),
    "budget-unknown": (GOOD.replace('budget = "quick"', 'budget = "slow"'), "budget"),
    "seeds-empty": (GOOD.replace("repeats = 3", "seeds = []"), "seeds"),
    "seeds-negative": (GOOD.replace("repeats = 3", "seeds = [-1]"), "seeds"),
    "seeds-text": (GOOD.replace("repeats = 3", 'seeds = ["a"]'), "seeds"),
    "seeds-duplicate": (GOOD.replace("repeats = 3", "seeds = [1, 1]"), "seeds"),
    "device-unknown": (GOOD.replace("repeats = 3", 'device = "tpu"'), "device"),
    "config-batch-zero": (GOOD.replace("batch_size = [1, 2]", "batch_size = [0]"), "grid.batch_size=0"),
    "config-unknown-model": (GOOD.replace('["digits-mlp"]', '["no-such-model"]'), "grid.model='no-such-model'"),
    "config-unknown-quant": (GOOD + 'quant = ["int3"]\n', "grid.quant='int3'"),
    "prune-without-sparsity": (GOOD + 'prune_method = ["unstructured"]\n', "grid.sparsity=None"),
    "unknown-model-in-grid-and-scan": (GOOD.replace('["digits-mlp"]', '["mine"]')
                                       + "[sensitivity]\nmodels = ['mine']\n", "grid.model='mine'"),
    "setup-not-a-string": ("setup = 3\n" + GOOD, "setup=3"),
    "quality-no-max-drop": (GOOD + "[quality]\n", "quality.max_drop"),
    "quality-bad-max-drop": (GOOD + "[quality]\nmax_drop = 2\n", "quality.max_drop"),
    "quality-unknown-key": (GOOD + "[quality]\nmax_drop = 0.01\nmetric = 'f1'\n", "quality.metric"),
    "baseline-unknown-knob": (GOOD + "[quality]\nmax_drop = 0.01\nbaseline = { bits = 8 }\n", "quality.baseline.bits"),
    "baseline-not-in-grid": (GOOD + "[quality]\nmax_drop = 0.01\nbaseline = { quant = 'bf16' }\n",
                             "quality.baseline.quant"),
    "sensitivity-bad-model": (GOOD + "[sensitivity]\nmodels = ['nope']\n", "sensitivity.models"),
    "sensitivity-bad-method": (GOOD + "[sensitivity]\nmodels = ['digits-mlp']\nmethod = 'structured'\n",
                               "sensitivity.method"),
    "sensitivity-bad-sparsity": (GOOD + "[sensitivity]\nmodels = ['digits-mlp']\nsparsities = [1.0]\n",
                                 "sensitivity.sparsities"),
}


@pytest.mark.parametrize("text,field", BAD_STUDIES.values(), ids=BAD_STUDIES.keys())
def test_bad_study_is_one_line_naming_file_and_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        # A model not registered in this process loads (its results can be drawn) and fails the check
        # that measuring runs first; every other problem fails the load itself.
        studies.load(path).check()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert field in message


def test_a_study_of_a_model_not_registered_here_loads_for_reading_and_refuses_to_measure(tmp_path, fake_measure):
    text = GOOD.replace('["digits-mlp"]', '["somebodys-model"]') + "[quality]\nmax_drop = 0.01\n"
    path = write(tmp_path, text)
    study = studies.load(path)  # figures reads its results: no registry needed
    assert study.grid["model"] == ["somebodys-model"] and study.quality.max_drop == 0.01
    for attempt in (study.configs, study.check, lambda: studies.run(study)):
        with pytest.raises(ValueError) as info:
            attempt()
        assert str(info.value).startswith(f"{path}: grid.model='somebodys-model' is not allowed: one of ")
        assert 'setup = "module:function"' in str(info.value)
    assert fake_measure.calls == [] and not study.results_dir.exists()
    # What needs no registry is still checked when the file loads.
    with pytest.raises(ValueError, match="grid.batch_size=0 is not allowed"):
        studies.load(write(tmp_path, text.replace("batch_size = [1, 2]", "batch_size = [0]"), "zero.toml"))
    with pytest.raises(ValueError, match="quality.baseline.quant='int3' is not allowed"):
        studies.load(write(tmp_path, text.replace("max_drop = 0.01", "max_drop = 0.01\nbaseline = { quant = 'int3' }"),
                           "base.toml"))


def test_unknown_knob_lists_the_knobs(tmp_path):
    with pytest.raises(ValueError, match="one of model, width, prune_method, sparsity, finetune_epochs, quant"):
        studies.load(write(tmp_path, GOOD + "batchsize = [1]\n"))


def test_unreadable_files_are_one_line(tmp_path):
    cases = [tmp_path / "missing.toml", tmp_path]  # no such file; a directory
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    cases.append(binary)
    for path in cases:
        with pytest.raises(ValueError) as info:
            studies.load(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert "UTF-8" in str(pytest.raises(ValueError, studies.load, binary).value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_is_one_line(tmp_path):
    path = write(tmp_path, GOOD)
    path.chmod(0)
    try:
        with pytest.raises(ValueError, match="cannot be read") as info:
            studies.load(path)
        assert "\n" not in str(info.value)
    finally:
        path.chmod(0o600)


# --- running and resuming -------------------------------------------------------------------------

def test_interrupted_sweep_resumes_without_re_measuring(tmp_path, fake_measure):
    study = studies.load(write(tmp_path, GOOD))  # 2 configs x 3 repeats
    seen = []

    def stop_after_four(row):
        seen.append(row)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        studies.run(study, on_row=stop_after_four)
    assert len(fake_measure.calls) == 4
    partial = json.loads((study.results_dir / "manifest.json").read_text())
    assert partial["complete"] is False and partial["finished_at"] is None
    # Repeats interleave (both configurations' first repeat, then both second ones ...): says how far it got.
    assert [len(c["row_ids"]) for c in partial["configs"]] == [2, 2]

    fake_measure.calls.clear()
    manifest = studies.run(study)
    assert len(fake_measure.calls) == 2  # only the missing third repeats
    assert [(c["reused"], c["measured"]) for c in manifest["configs"]] == [(2, 1), (2, 1)]
    assert manifest["complete"] is True and manifest["finished_at"]

    fake_measure.calls.clear()
    again = studies.run(study)
    assert fake_measure.calls == []
    assert again["row_ids"] == manifest["row_ids"]

    fake_measure.calls.clear()
    forced = studies.run(study, force=True)
    assert len(fake_measure.calls) == 6 and set(forced["row_ids"]).isdisjoint(manifest["row_ids"])


def test_a_failed_configuration_stops_its_repeats_and_is_retried_on_a_rerun(tmp_path, fake_measure):
    fake_measure.fail = {"bf16"}
    study = studies.load(write(tmp_path, GOOD.replace("threads = [1]", 'threads = [1]\nquant = ["fp32", "bf16"]')))
    progress = []
    manifest = studies.run(study, progress=lambda done, total: progress.append((done, total)))
    failed = [c for c in manifest["configs"] if c["failed"]]
    assert [c["config"]["quant"] for c in failed] == ["bf16", "bf16"]
    assert all(len(c["row_ids"]) == 1 for c in failed)  # the first failure stops that config's repeats
    assert len(fake_measure.calls) == 3 + 1 + 3 + 1
    assert progress[-1] == (12, 12)  # skipped repeats still advance the progress to the end
    # Finished, but not complete: figures built from it must not claim the failed configurations.
    assert manifest["sweep_finished"] is True and manifest["complete"] is False
    assert manifest["failed_configs"] == [c["config_id"] for c in failed]

    # The one reuse rule: a stored failure answers nothing, so a rerun tries again (and only that).
    fake_measure.calls.clear()
    rerun = studies.run(study)
    assert [c.quant for c in fake_measure.calls] == ["bf16", "bf16"]
    assert [c["failed"] for c in rerun["configs"]] == [0, 1, 0, 1]
    fake_measure.fail = set()
    fake_measure.calls.clear()
    fixed = studies.run(study)
    assert [c.quant for c in fake_measure.calls] == ["bf16"] * 6
    assert [c["failed"] for c in fixed["configs"]] == [0, 0, 0, 0]
    assert fixed["complete"] is True and fixed["failed_configs"] == []


def test_quick_rows_do_not_serve_a_default_budget_study(tmp_path, fake_measure):
    studies.run(studies.load(write(tmp_path, GOOD)))
    fake_measure.calls.clear()
    studies.run(studies.load(write(tmp_path, GOOD.replace('budget = "quick"', ""), "full.toml")))
    assert len(fake_measure.calls) == 6


def test_manifest_rows_jsonl_and_load_results(tmp_path, fake_measure):
    path = write(tmp_path, GOOD)
    study = studies.load(path)
    store = Store(tmp_path / "other.sqlite")
    manifest = studies.run(study, store=store)
    on_disk = json.loads((study.results_dir / "manifest.json").read_text())
    assert on_disk == manifest
    text = (study.results_dir / "manifest.json").read_text()
    assert text == json.dumps(on_disk, sort_keys=True, indent=2) + "\n"  # stable, diffable
    assert manifest["study"] == "tiny" and manifest["study_file"] == str(path)
    assert manifest["resolved"]["repeats"] == 3 and manifest["resolved"]["grid"]["batch_size"] == [1, 2]
    assert manifest["store"] == str(store.path)
    assert manifest["started_at"] <= manifest["finished_at"]
    assert manifest["environment"]["env_id"] == hardware.environment("cpu")["env_id"]
    assert manifest["lab_version"] == lab.__version__ and manifest["git_sha"]
    assert manifest["study_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    stored = store.rows()
    # Every row; listed by configuration, measured round by round (repeats interleaved).
    assert manifest["row_ids"] == [1, 3, 5, 2, 4, 6]
    assert sorted(manifest["row_ids"]) == [r["id"] for r in stored]
    assert len(set(manifest["row_ids"])) == 6  # repeats are separate rows

    df, loaded = studies.load_results(study)
    assert loaded == manifest
    assert list(df["id"]) == manifest["row_ids"]
    assert list(df["repeat"]) == [0, 1, 2, 0, 1, 2]
    assert df["energy_mj_per_sample"].isna().all()  # NaN round-trips through rows.jsonl
    by_id = {r["id"]: r for r in stored}
    assert df["latency_ms_p50"].tolist() == [by_id[i]["latency_ms_p50"] for i in manifest["row_ids"]]
    lines = (study.results_dir / "rows.jsonl").read_text().splitlines()
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)
    assert studies.load_results(path)[0].equals(df) and studies.load_results(study.results_dir)[0].equals(df)


def test_load_results_before_any_sweep_is_one_line(tmp_path):
    study = studies.load(write(tmp_path, GOOD))
    with pytest.raises(ValueError, match="python -m lab sweep") as info:
        studies.load_results(study)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="python -m lab sweep"):
        studies.load_sensitivity(tmp_path / "nowhere")


def test_real_quick_sweep_with_sensitivity(tmp_path):
    text = GOOD.replace("repeats = 3", "repeats = 2") + \
        "[quality]\nmax_drop = 0.01\n[sensitivity]\nmodels = ['digits-mlp']\nsparsities = [0.0, 0.5]\n"
    study = studies.load(write(tmp_path, text))
    rows = []
    manifest = studies.run(study, on_row=rows.append)
    assert len(rows) == 4 and all(r["error"] is None and r["latency_ms_p50"] > 0 for r in rows)
    assert len({r["id"] for r in rows}) == 4
    store_ids = [r["id"] for r in Store().rows()]
    assert sorted(manifest["row_ids"]) == store_ids
    df, _ = studies.load_results(study)
    assert within_quality_budget(df, study.quality).all()  # all fp32: each row is its own baseline
    summary = summarize(df)
    assert list(summary["repeats"]) == [2, 2]
    assert (summary["latency_ms_p50_lo"] <= summary["latency_ms_p50"]).all()
    scans = studies.load_sensitivity(study)
    assert list(scans) == ["digits-mlp"] and set(scans["digits-mlp"]["sparsity"]) == {0.0, 0.5}
    assert manifest["sensitivity_files"] == {"digits-mlp": "sensitivity-digits-mlp.csv"}

    before = (study.results_dir / "sensitivity-digits-mlp.csv").stat().st_mtime_ns
    studies.run(study)  # nothing to measure but what a busy machine disturbed, and the scan is kept
    assert (study.results_dir / "sensitivity-digits-mlp.csv").stat().st_mtime_ns == before
    # A row measured while other processes held the cores is flagged and never served: measured again.
    assert len(Store()) == 4 + sum(bool(r["contended"]) for r in rows)
