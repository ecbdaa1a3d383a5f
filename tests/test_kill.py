"""SIGKILL mid-sweep loses nothing already measured, and a rerun resumes with the rest.

A real ``python -m lab run`` over an 8-configuration grid is killed with SIGKILL
once the store holds at least two rows. The store must still open, hold only
complete rows, and a rerun of the same command must measure exactly the
configurations that are missing.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.store import Store

ROOT = Path(__file__).resolve().parent.parent
BATCHES = [1, 2, 3, 4, 5, 6, 7, 8]
POLL_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def _command(store: Path) -> list[str]:
    return [sys.executable, "-m", "lab", "run", "--model", "digits-mlp",
            "--batch", ",".join(map(str, BATCHES)), "--threads", "1", "--quick", "--store", str(store)]


def _stored(store: Path) -> int:
    """Rows in the store, or -1 while it does not exist yet or cannot be read at this instant."""
    if not store.exists():  # don't create it ourselves before the CLI does
        return -1
    try:
        return len(Store(store))
    except ValueError:  # e.g. momentarily locked while the CLI creates it
        return -1


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_mid_sweep_keeps_rows_and_rerun_measures_only_the_rest(tmp_path):
    store_path = tmp_path / "killed.sqlite"
    env = {**os.environ, "LAB_STORE": str(tmp_path / "unused.sqlite")}  # --store is what counts
    first_err = tmp_path / "first.stderr"

    with open(tmp_path / "first.stdout", "wb") as out, open(first_err, "wb") as err:
        proc = subprocess.Popen(_command(store_path), stdout=out, stderr=err, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + POLL_TIMEOUT_S
            while _stored(store_path) < 2:
                if proc.poll() is not None:
                    pytest.fail(f"the sweep exited with {proc.returncode} before it was killed; "
                                f"stderr: {first_err.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"store held {_stored(store_path)} rows after {POLL_TIMEOUT_S:.0f} s")
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            _kill(proc)  # never leave the sweep running, whatever failed above
    assert proc.returncode == -signal.SIGKILL

    # The killed sweep's store opens and holds only complete rows.
    store = Store(store_path)
    kept = store.rows()
    assert 2 <= len(kept) < len(BATCHES), f"{len(kept)} rows: the kill did not land mid-sweep"
    assert len({r["config_id"] for r in kept}) == len(kept)
    for row in kept:
        assert row["error"] is None
        assert row.get("latency_ms_p50") is not None and row["latency_ms_p50"] > 0
        assert row.get("energy_source") in {"nvml", "rapl", "estimate"}
        assert row["batch_size"] in BATCHES
    kept_ids = {r["id"] for r in kept}

    # The same command again measures only what is missing.
    rerun = subprocess.run(_command(store_path), capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Traceback" not in rerun.stderr
    match = re.search(r"(\d+) of (\d+) configurations were already in", rerun.stderr)
    # Every kept row is served, except one measured while other processes held the cores (never
    # served as clean: this test's own polling can be such a process).
    clean = [r for r in kept if not r.get("contended")]
    reused = (int(match.group(1)), int(match.group(2))) if match else (0, len(BATCHES))
    assert reused == (len(clean), len(BATCHES)), rerun.stderr[-2000:]

    rows = Store(store_path).rows()
    redone = len(kept) - len(clean)  # contended rows measured again (none on a quiet machine)
    assert len(rows) == len(BATCHES) + redone
    assert len({r["config_id"] for r in rows}) == len(BATCHES)  # every configuration
    assert sorted({r["batch_size"] for r in rows}) == BATCHES
    assert all(r["error"] is None for r in rows)
    assert kept_ids <= {r["id"] for r in rows}  # the kept rows are untouched, not re-measured
    assert not (tmp_path / "unused.sqlite").exists()
