"""scripts/install_torch.py: which torch build `make` installs, and the fallback when the CPU index is unreachable."""
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_torch.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("system, nvidia, wanted, build", [
    ("Linux", False, "auto", "cpu"),        # the student's laptop: no CUDA libraries
    ("Linux", True, "auto", "default"),     # a GPU box: the default wheel brings CUDA
    ("Darwin", False, "auto", "default"),   # macOS wheels hold no CUDA
    ("Windows", False, "auto", "default"),
    ("Linux", True, "cpu", "cpu"),          # the user's choice wins
    ("Linux", False, "default", "default"),
])
def test_the_build_chosen_for_each_machine(script, system, nvidia, wanted, build):
    assert script.choose(system, nvidia, wanted)[0] == build


def test_a_bad_choice_is_one_line_naming_the_variable(script):
    with pytest.raises(SystemExit, match=r"LAB_TORCH='gpu' is not allowed: one of auto, cpu, default"):
        script.choose("Linux", False, "gpu")


def test_the_pin_is_read_from_constraints(script, tmp_path):
    (tmp_path / "c.txt").write_text("# comment\nmatplotlib==3.11.2\ntorch==2.13.0  # the CPU build\n")
    assert script.pinned_version(tmp_path / "c.txt") == "2.13.0"
    assert script.pinned_version() == "2.13.0"  # the repository's own constraints.txt


def test_cpu_index_first_then_the_default_when_unreachable(script, capsys):
    calls = []

    def run(argv):
        calls.append(argv)
        return 0

    where = script.install("py", "2.13.0", "cpu", run, probe=lambda url: None)
    assert where == f"with --index-url {script.CPU_INDEX}"
    assert calls[0][calls[0].index("--index-url") + 1] == script.CPU_INDEX and "--no-deps" in calls[0]
    # then torch's dependencies from the default index (the +cpu build already satisfies torch==2.13.0)
    assert len(calls) == 2 and "--index-url" not in calls[1] and "--no-deps" not in calls[1]

    calls.clear()
    where = script.install("py", "2.13.0", "cpu", run, probe=lambda url: "URLError: no such host")
    assert where == "from the default index"
    assert len(calls) == 1 and "--index-url" not in calls[0] and "torch==2.13.0" in calls[0]
    assert "could not be reached (URLError: no such host); falling back" in capsys.readouterr().out

    calls.clear()
    fails_on_cpu_index = lambda argv: 1 if "--index-url" in argv else 0  # noqa: E731
    assert script.install("py", "2.13.0", "cpu", fails_on_cpu_index, probe=lambda url: None) == "from the default index"
    with pytest.raises(SystemExit, match="default index either"):
        script.install("py", "2.13.0", "default", lambda argv: 1)
    deps_fail = lambda argv: 0 if "--index-url" in argv else 1  # noqa: E731
    with pytest.raises(SystemExit, match="torch's dependencies could not be installed"):
        script.install("py", "2.13.0", "cpu", deps_fail, probe=lambda url: None)


def test_reports_the_build_this_venv_has(script):
    version, cuda = script.installed(sys.executable)
    import torch

    assert version == torch.__version__ and cuda == torch.version.cuda
    assert script.describe("2.13.0+cpu", None) == "torch 2.13.0+cpu, CPU-only build"
    assert script.describe("2.13.0", "12.8") == "torch 2.13.0, CUDA 12.8 build"
