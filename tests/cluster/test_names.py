"""Device names across a cluster, and a lab without one: no Ray, nothing changes (no cluster started here)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import lab
from helpers import assert_one_error_line, run_main
from lab.cluster import names, session
from lab.errors import FieldError


@pytest.mark.parametrize("name, expected", [
    ("cpu", (None, "cpu")), ("cuda", (None, "cuda:0")), ("cuda:1", (None, "cuda:1")), ("mps", (None, "mps")),
    ("gpu-box/cuda:0", ("gpu-box", "cuda:0")), ("gpu-box/cuda", ("gpu-box", "cuda:0")),
    ("laptop/cpu", ("laptop", "cpu")), ("127.0.0.3/cpu", ("127.0.0.3", "cpu")),
])
def test_split_device(name, expected):
    assert names.split_device(name) == expected
    assert names.is_node_device(name) == (expected[0] is not None)


@pytest.mark.parametrize("bad", ["tpu", "box/", "/cpu", "box/tpu", "a/b/cpu", "box cpu", "-box/cpu", "", None, 3])
def test_a_bad_device_name_is_one_line_naming_the_field(bad):
    with pytest.raises(FieldError) as caught:
        names.split_device(bad)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("device=") and "<node>/<device>" in message


def test_config_takes_a_node_device_and_leaves_its_threads_to_the_node():
    config = lab.Config(model="digits-mlp", device="box/cuda")
    assert config.device == "box/cuda:0"
    assert config.threads is None  # this machine's core count says nothing about the node's
    assert lab.Config(model="digits-mlp").threads is not None  # this machine: resolved as before
    assert config.config_id != lab.Config(model="digits-mlp", device="cuda").config_id


def test_cli_refuses_a_bad_device_name_in_one_line():
    assert_one_error_line(*run_main(["run", "--model", "digits-mlp", "--device", "box/tpu", "--no-store"]),
                          "device", "box/tpu", "<node>/<device>")


def test_device_all_without_a_cluster_says_how_to_join_one(monkeypatch):
    monkeypatch.delenv(session.ENV_VAR, raising=False)
    assert_one_error_line(*run_main(["run", "--model", "digits-mlp", "--device", "all", "--no-store"]),
                          "LAB_CLUSTER", "--cluster")


def test_an_unreachable_cluster_is_one_line_naming_where_the_address_came_from(monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    from lab.cluster.local import free_port

    port = free_port("127.0.0.2")  # nothing listens there
    assert_one_error_line(*run_main(["env", "--cluster", f"127.0.0.2:{port}"]), "--cluster", "nothing answers")
    monkeypatch.setenv(session.ENV_VAR, f"127.0.0.2:{port}")
    assert_one_error_line(*run_main(["env"]), "LAB_CLUSTER", f"127.0.0.2:{port}", "can't be reached")


def test_study_takes_cluster_and_device_all(tmp_path):
    from lab import study

    path = tmp_path / "s.toml"
    path.write_text('name = "s"\ncluster = "127.0.0.2:6379"\ndevice = ["all", "box/cpu"]\n'
                    '[grid]\nmodel = ["digits-mlp"]\n')
    loaded = study.load(path)  # loads (and checks) without joining the cluster
    assert loaded.cluster == "127.0.0.2:6379" and loaded.devices == ("all", "box/cpu")
    path.write_text('name = "s"\ndevice = "box/tpu"\n[grid]\nmodel = ["digits-mlp"]\n')
    with pytest.raises(FieldError, match=r"device='box/tpu' is not allowed") as caught:
        study.load(path)
    assert "\n" not in str(caught.value)


def test_a_local_sweep_never_imports_ray():
    """Embedded by default: with no cluster asked for, nothing changes and Ray is not imported."""
    code = textwrap.dedent("""
        import os, sys
        os.environ.pop("LAB_CLUSTER", None)
        import lab
        bench = lab.Bench(None, measure=lambda config, budget, **_: {"latency_ms_p50": 1.0})
        rows = bench.rows(lab.grid(model="digits-mlp", batch_size=[1, 8]))
        from lab.dashboard import controls
        assert controls.device_options() == ["cpu"] or "cuda:0" in controls.device_options()
        assert len(rows) == 2 and all(r["error"] is None for r in rows), rows
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
