"""Round trips, resume, concurrency and refusals of the SQLite results store."""
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import lab.store
from lab.errors import FieldError
from lab.store import SCHEMA_VERSION, Store, default_path

ENV = {"env_id": "env-a", "torch": "2.13.0", "device_name": "cpu", "threads": 2, "model": "NOT-ME"}
ENV_B = {"env_id": "env-b", "torch": "2.13.0", "device_name": "cuda:0"}


def make_row(config_id="c1", **extra):
    row = {"config_id": config_id, "model": "digits-mlp", "batch_size": 64, "sparsity": 0.5,
           "compile": False, "accuracy": None, "quant": "fp32", "samples": [1.0, 2.5, 3],
           "latency_ms_p50": 1.25, "error": None}
    row.update(extra)
    return row


def test_round_trip_values_env_merge_and_ids(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    assert len(store) == 0 and store.rows() == []
    row = make_row()
    id1 = store.add(row, ENV)
    id2 = store.add(make_row("c2", latency_ms_p50=2.0), ENV)
    assert id2 > id1 and len(store) == 2

    got = store.rows()
    assert [r["id"] for r in got] == [id1, id2]
    first = got[0]
    for key, value in row.items():
        assert first[key] == value and type(first[key]) is type(value), key
    # env fields are merged in, but never overwrite the row's own fields
    assert first["env_id"] == "env-a" and first["torch"] == "2.13.0" and first["threads"] == 2
    assert first["model"] == "digits-mlp"
    assert isinstance(first["created_at"], str) and first["created_at"].endswith("+00:00")
    assert list(first)[0] == "id"

    with sqlite3.connect(store.path) as con:  # one environment row for two results
        assert con.execute("SELECT COUNT(*) FROM environments").fetchone()[0] == 1
        assert con.execute("SELECT value FROM lab_meta WHERE key='schema_version'").fetchone()[0] == "1"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_nan_and_inf_survive(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add(make_row(power_w=float("nan"), roofline_frac=float("inf")), ENV)
    (got,) = store.rows()
    assert math.isnan(got["power_w"]) and got["roofline_frac"] == math.inf


def test_numpy_like_scalars_are_unwrapped_and_bad_values_named(tmp_path):
    class Scalar:  # stands in for numpy.float32 / a 0-d tensor
        def item(self):
            return 3.5

    store = Store(tmp_path / "s.sqlite")
    store.add(make_row(latency_ms_p90=Scalar()), ENV)
    assert store.rows()[0]["latency_ms_p90"] == 3.5
    with pytest.raises(ValueError, match="flops"):
        store.add(make_row(flops=object()), ENV)
    assert len(store) == 1


def test_missing_ids_and_bad_error_are_refused(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="config_id"):
        store.add({"model": "x"}, ENV)
    with pytest.raises(ValueError, match="env_id"):
        store.add(make_row(), {"torch": "2.13.0"})
    with pytest.raises(ValueError, match="error"):
        store.add(make_row(error=RuntimeError("oom")), ENV)
    assert len(store) == 0


def test_has_and_latest(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    assert not store.has("c1", "env-a") and store.latest("c1", "env-a") is None
    store.add(make_row(error="CUDA out of memory"), ENV)
    assert not store.has("c1", "env-a")  # failed rows are retried on a rerun
    assert store.latest("c1", "env-a") is None
    assert store.rows()[0]["error"] == "CUDA out of memory"

    store.add(make_row(latency_ms_p50=1.0), ENV)
    newest = store.add(make_row(latency_ms_p50=2.0), ENV)
    store.add(make_row(error="flaky"), ENV)  # a later failure doesn't hide the success
    assert store.has("c1", "env-a")
    assert not store.has("c1", "env-b") and not store.has("c2", "env-a")
    hit = store.latest("c1", "env-a")
    assert hit["id"] == newest and hit["latency_ms_p50"] == 2.0 and hit["torch"] == "2.13.0"
    assert len(store.rows(config_id="c1")) == 4  # repeats are kept as separate rows


def test_filters(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    a = store.add(make_row("c1"), ENV)
    b = store.add(make_row("c2"), ENV_B)
    c = store.add(make_row("c1"), ENV_B)
    assert [r["id"] for r in store.rows(env_id="env-b")] == [b, c]
    assert [r["id"] for r in store.rows(config_id="c1")] == [a, c]
    assert [r["id"] for r in store.rows(config_id="c1", env_id="env-b")] == [c]
    assert [r["id"] for r in store.rows(ids=[c, a])] == [a, c]
    assert store.rows(ids=[]) == []
    assert store.rows(env_id="env-b")[0]["device_name"] == "cuda:0"


def test_a_store_in_a_directory_that_does_not_exist_is_refused_and_nothing_is_created(tmp_path):
    # A mistyped --store path must not silently start an empty store (and re-measure everything).
    path = tmp_path / "typo" / "s.sqlite"
    with pytest.raises(FieldError, match=r"^store=.* is not allowed: it is in a directory that does not exist"):
        Store(path)
    assert not (tmp_path / "typo").exists()


def test_create_false_refuses_a_missing_store_and_creates_nothing(tmp_path):
    with pytest.raises(FieldError, match="holds no lab store"):
        Store(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_resume_across_instances(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).add(make_row(), ENV)
    again = Store(str(path))
    assert again.path == path and len(again) == 1 and again.has("c1", "env-a")
    again.add(make_row("c2"), ENV)
    assert [r["config_id"] for r in Store(path).rows()] == ["c1", "c2"]


# Child processes load store.py by file, skipping lab/__init__ (and torch).
LOAD_STORE = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location('store', {lab.store.__file__!r})\n"
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
)


def test_rows_from_a_thread_and_a_subprocess_are_visible(tmp_path):
    path = tmp_path / "s.sqlite"
    store = Store(path)
    errors = []

    def worker():
        try:
            other = Store(path)
            for i in range(20):
                other.add(make_row(f"thread-{i}"), ENV)
        except Exception as exc:  # surfaced in the main thread below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    for i in range(20):  # the main thread writes through its own instance meanwhile
        store.add(make_row(f"main-{i}"), ENV)
    t.join()
    assert errors == []

    code = LOAD_STORE + (
        "print(m.Store(sys.argv[1]).add({'config_id': 'proc', 'error': None}, {'env_id': 'env-p'}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(store) == 41
    assert store.has("proc", "env-p") and store.has("thread-19", "env-a")
    assert store.latest("proc", "env-p")["id"] == int(done.stdout)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_sweep_loses_nothing_already_added(tmp_path):
    path = tmp_path / "s.sqlite"
    code = LOAD_STORE + (
        "store = m.Store(sys.argv[1])\n"
        "for i in range(10**6):\n"
        "    print(store.add({'config_id': f'c{i}', 'x': [i] * 50}, {'env_id': 'e'}), flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        added = [int(child.stdout.readline()) for _ in range(30)]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    store = Store(path)  # reopens cleanly; WAL recovery keeps every committed row
    ids = [r["id"] for r in store.rows()]
    assert set(added) <= set(ids) and len(store) >= 30
    store.add({"config_id": "after"}, {"env_id": "e"})  # and the sweep can resume
    assert store.has("after", "e")


def _assert_refused(path):
    with pytest.raises(ValueError) as info:
        Store(path)
    msg = str(info.value)
    assert "store" in msg and str(path) in msg and "\n" not in msg, msg
    return msg


def test_bad_files_are_refused_in_one_line(tmp_path):
    text = tmp_path / "x.txt"
    text.write_text("model,latency\nmlp,1.0\n" * 50)
    assert "not a lab results store" in _assert_refused(text)

    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 16)
    _assert_refused(noise)

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE songs (title TEXT)")
    assert "songs" in _assert_refused(other)

    assert "directory" in _assert_refused(tmp_path)

    future = tmp_path / "future.sqlite"
    Store(future)
    with sqlite3.connect(future) as con:
        con.execute("UPDATE lab_meta SET value='999' WHERE key='schema_version'")
    assert "999" in _assert_refused(future) and SCHEMA_VERSION == 1

    # the refused files are left untouched
    assert text.read_text().startswith("model,latency")
    with sqlite3.connect(other) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["songs"]


def test_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    store = Store(path)
    store.add(make_row(), ENV)
    assert len(Store(path)) == 1


def test_export_parquet_and_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    store = Store(tmp_path / "s.sqlite")
    store.add(make_row("c1"), ENV)
    store.add(make_row("c2", compile="max-autotune", noisy=True), ENV_B)  # mixed types, new column

    df = store.dataframe()
    assert list(df.columns)[0] == "id" and list(df.columns)[-1] == "noisy"
    assert list(df.columns)[:3] == ["id", "config_id", "model"]
    assert list(store.dataframe(env_id="env-b")["config_id"]) == ["c2"]

    for name, reader in [("out/r.parquet", pd.read_parquet), ("r.pq", pd.read_parquet),
                         ("r.csv", pd.read_csv)]:
        out = store.export(tmp_path / name)
        assert out == tmp_path / name and out.exists()
        back = reader(out)
        assert len(back) == 2 and list(back["config_id"]) == ["c1", "c2"]
    out = store.export(tmp_path / "plain", format="csv")
    assert list(pd.read_csv(out)["config_id"]) == ["c1", "c2"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.parquet"]  # no temp left


def test_export_of_empty_store_and_bad_format(tmp_path):
    pd = pytest.importorskip("pandas")
    store = Store(tmp_path / "s.sqlite")
    assert list(store.dataframe().columns) == ["id"]
    assert len(pd.read_csv(store.export(tmp_path / "e.csv"))) == 0
    with pytest.raises(ValueError, match="format") as info:
        store.export(tmp_path / "r.xlsx")
    assert "parquet" in str(info.value) and "csv" in str(info.value)
    with pytest.raises(ValueError, match="format='json'"):
        store.export(tmp_path / "r.csv", format="json")


def test_default_path_honours_lab_store(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_STORE", raising=False)
    repo = Path(lab.store.__file__).resolve().parent.parent
    assert default_path() == repo / "data" / "results" / "lab.sqlite"
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "mine.sqlite"))
    assert default_path() == tmp_path / "mine.sqlite"
    store = Store()
    assert store.path == tmp_path / "mine.sqlite" and store.path.exists()


def test_ceilings_round_trip_keyed_by_env_device_threads(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    assert store.get_ceilings("env-a", "cpu", 2) is None
    measured = {"device": "cpu", "threads": 2, "peak_gflops": {"fp32": 150.5, "int8": 800.0},
                "bandwidth_gbs": 30.0, "unsupported": {"fp16": "slow"}}
    store.put_ceilings("env-a", "cpu", 2, measured)
    assert Store(tmp_path / "s.sqlite").get_ceilings("env-a", "cpu", 2) == measured  # committed, nested kept
    assert store.get_ceilings("env-a", "cpu", 1) is None and store.get_ceilings("env-b", "cpu", 2) is None
    store.put_ceilings("env-a", "cpu", 2, {**measured, "bandwidth_gbs": 31.0})  # replaced, not duplicated
    assert store.get_ceilings("env-a", "cpu", 2)["bandwidth_gbs"] == 31.0
    assert len(store) == 0  # ceilings are not result rows
    with pytest.raises(ValueError, match="env_id=None"):
        store.put_ceilings(None, "cpu", 2, measured)


def test_a_store_made_before_the_ceilings_table_gains_it(tmp_path):
    path = tmp_path / "old.sqlite"
    Store(path).add(make_row(), ENV)
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE ceilings")  # what a store written before the table existed looks like
    store = Store(path)
    store.put_ceilings("env-a", "cpu", 2, {"bandwidth_gbs": 1.0})
    assert store.get_ceilings("env-a", "cpu", 2) == {"bandwidth_gbs": 1.0} and len(store) == 1


def test_each_reader_sees_one_kind_of_row_and_export_keeps_all(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    env = {"env_id": "e1"}
    store.add({"config_id": "a", "latency_ms_p50": 1.0}, env)  # no kind: an inference row, as before kinds
    store.add({"config_id": "b", "kind": "training", "tta_s": 3.0}, env)
    store.add({"config_id": "c", "kind": "loader", "stall_frac": float("nan")}, env)
    assert [r["config_id"] for r in store.rows()] == ["a"]
    assert [r["config_id"] for r in store.rows(kind="training")] == ["b"]
    assert [r["config_id"] for r in store.rows(kind="loader")] == ["c"]
    assert math.isnan(store.rows(kind="loader")[0]["stall_frac"])
    assert [r["config_id"] for r in store.rows(kind=None)] == ["a", "b", "c"]
    assert list(store.dataframe()["config_id"]) == ["a"]
    out = store.export(tmp_path / "all.csv")
    text = out.read_text()
    assert "tta_s" in text and "stall_frac" in text and text.count("\n") == 4


def test_utc_now_is_the_one_stamp_every_writer_uses():
    import datetime
    import re

    from lab import paths, roofline, store
    from lab.study import sweep

    stamp = store.utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp)
    assert datetime.datetime.fromisoformat(stamp).utcoffset() == datetime.timedelta(0)
    assert paths.utc_now is roofline.utc_now is sweep.utc_now is store.utc_now
