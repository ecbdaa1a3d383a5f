"""Fixtures for the real-browser tests: a private JupyterLab server and a headless Chromium.

Both are optional tools, not Python dependencies of the lab, so a machine without
them skips these tests with a message saying how to enable them.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, not Playwright's own download: `playwright install` needs the
# internet, which CI and the development machine don't have.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_TIMEOUT_S = 90  # a cold JupyterLab on a busy 2-core machine takes 20-40 s

# Settings the browser would otherwise ask about or fetch from the internet; without
# them a "news?" toast can cover the notebook and a failed fetch can log console errors.
# Windowing "none" keeps every cell in the DOM, so cell prompts can be read.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("LAB_CHROMIUM") or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"browser test needs Debian's chromium (none at {path}): apt-get install -y chromium "
                    "(or set LAB_CHROMIUM=/path/to/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser test needs the playwright package: pip install -e '.[test]' (make test does); "
                    "never `playwright install`, it uses Debian's chromium")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode} before serving:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url.split('?')[0]} within {SERVER_START_TIMEOUT_S} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started: kernels run in their own sessions
    (jupyter_client starts them with start_new_session), so a process-group kill
    would miss them; list the children first, then make sure each is gone."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # lets the server shut its kernels down cleanly
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=10)


@pytest.fixture
def jupyter_lab(tmp_path, chromium_path):
    """A JupyterLab server on a free port of 127.0.0.1, serving a copy of notebooks/.

    Yields {"url": base URL, "token": ..., "root": the served folder, "log": server log path}.
    A copy, because the browser autosaves a notebook it runs; every Jupyter directory is a
    temporary one, so the user's own settings don't interfere and nothing is written
    into the repository. The server and its kernels are stopped whatever happens.
    """
    root = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = tmp_path / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    jupyter_dirs = {name: tmp_path / name.lower() for name in
                    ("JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_WORKSPACES_DIR",
                     "IPYTHONDIR")}
    for path in jupyter_dirs.values():
        path.mkdir()
    env = {**os.environ, **{k: str(v) for k, v in jupyter_dirs.items()},
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "LAB_SMOKE": "1",  # the notebooks' quick mode: a few seconds per cell
           "LAB_STORE": str(tmp_path / "store.sqlite"),  # the test's private store, never data/results
           "PYTHONUNBUFFERED": "1"}
    port, token = _free_port(), secrets.token_hex(24)
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0",  # fail loudly rather than serve on a port the test doesn't know
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--ServerApp.terminals_enabled=False"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root; JupyterLab refuses root without it
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(proc, f"{base}/api/status?token={token}", log)
        yield {"url": base, "token": token, "root": root, "log": log}
    finally:
        _stop(proc)


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/browser/ (gitignored): screenshots for people and CI to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "failure.png").unlink(missing_ok=True)  # one left from an earlier run would mislead
    return ARTIFACTS


@pytest.fixture
def browser(chromium_path):
    """A headless Debian Chromium driven by Playwright; closed whatever happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
