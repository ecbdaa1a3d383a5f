"""The two-node tests (test_two_nodes.py), run in a network namespace with only loopback (see
private_network.py: Ray's servers listen on every interface, so this is where they may)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

import private_network

pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]' (make test does)")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_two_node_cluster_tests_pass_in_a_private_network():
    if private_network.inside():
        pytest.skip("already inside the private network: test_two_nodes.py runs here directly")
    if not private_network.available():
        pytest.skip("no private network namespace here (unshare --user --net refused): "
                    "test_two_nodes.py runs on this machine's network instead")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--tb=short",
            str(Path(__file__).with_name("test_two_nodes.py"))]
    done = subprocess.run(private_network.command(argv), cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    report = out if len(out) < 8000 else f"{out[:5000]}\n[...]\n{out[-3000:]}"  # the first failure, and the summary
    assert done.returncode == 0, report
    summary = [line for line in done.stdout.splitlines() if " in " in line and "passed" in line][-1]
    assert not re.search(r"failed|error", summary), report
    assert "skipped" not in summary, report  # every two-node test ran
