"""session.connect against a fake ``ray`` module: a ray:// join the client server lost is tried once
more; other failures, and every failure of a plain host:port join, are one line at once."""
import sys
import types

import pytest

from lab.cluster import session


class FakeRay(types.ModuleType):
    """ray.init fails with each of ``failures`` in turn, then joins."""

    def __init__(self, failures):
        super().__init__("ray")
        self.failures, self.inits, self.shutdowns, self._up = list(failures), [], 0, False

    def init(self, address, **options):
        self.inits.append(address)
        if self.failures:
            raise self.failures.pop(0)
        self._up = True

    def is_initialized(self):
        return self._up

    def remote(self, **options):
        return lambda function: function

    def shutdown(self):
        self.shutdowns += 1
        self._up = False


LOST = ConnectionAbortedError("Initialization failure from server:\n")


@pytest.fixture
def fake_ray(monkeypatch):
    def install(*failures):
        fake = FakeRay(failures)
        monkeypatch.setitem(sys.modules, "ray", fake)
        monkeypatch.setattr(session, "_reachable", lambda address, timeout_s=3.0: None)
        monkeypatch.setattr(session, "_CURRENT", None)
        monkeypatch.delenv(session.ENV_VAR, raising=False)
        return fake
    return install


def test_a_ray_client_join_the_server_lost_is_tried_once_more(fake_ray, capsys):
    fake = fake_ray(LOST)
    joined = session.connect("ray://127.0.0.2:10001")
    assert joined.address == "ray://127.0.0.2:10001" and fake.inits == ["ray://127.0.0.2:10001"] * 2
    assert fake.shutdowns == 1  # the half-made first connection was undone before the second
    assert "joining again" in capsys.readouterr().err


def test_a_ray_client_join_lost_twice_is_one_line(fake_ray):
    fake = fake_ray(LOST, LOST)
    with pytest.raises(session.ClusterError, match=r"^--cluster='ray://127.0.0.2:10001': the cluster can't be "
                                                   r"joined: Initialization failure from server:$"):
        session.connect("ray://127.0.0.2:10001", field="--cluster")
    assert len(fake.inits) == session.CLIENT_JOIN_ATTEMPTS == 2


def test_other_failures_and_plain_addresses_are_not_retried(fake_ray):
    fake = fake_ray(ConnectionError("version mismatch: the cluster runs Ray 2.59"))
    with pytest.raises(session.ClusterError, match="version mismatch"):
        session.connect("ray://127.0.0.2:10001")
    assert len(fake.inits) == 1
    fake = fake_ray(LOST)
    with pytest.raises(session.ClusterError, match="Initialization failure"):
        session.connect("127.0.0.2:6379")
    assert len(fake.inits) == 1


@pytest.mark.parametrize("flag, joined, bench_gets", [
    ([], False, "127.0.0.2:6379"),  # LAB_CLUSTER is set, but the study's `cluster =` comes first
    (["--cluster", "127.0.0.3:6379"], True, "joined"),  # --cluster comes before both
])
def test_sweep_takes_the_flag_then_the_study_file_then_lab_cluster(tmp_path, monkeypatch, fake_measure, flag, joined,
                                                                   bench_gets):
    # Before: cmd_sweep joined $LAB_CLUSTER first, and the study's `cluster =` was never used.
    from helpers import run_main
    from lab import bench as bench_module
    from lab.cluster import cli as cluster_cli

    calls, given = [], []
    monkeypatch.setenv(session.ENV_VAR, "127.0.0.4:6379")
    monkeypatch.setattr(cluster_cli, "join", lambda args: calls.append(args.cluster) or "joined")
    init = bench_module.Bench.__init__

    def recording_init(self, *args, cluster=None, **kwargs):
        given.append(cluster)
        init(self, *args, cluster=cluster, **kwargs)

    monkeypatch.setattr(bench_module.Bench, "__init__", recording_init)
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\ncluster = "127.0.0.2:6379"\nbudget = "quick"\n[grid]\nmodel = ["digits-mlp"]\n')
    code, _, err = run_main(["sweep", study, "--store", tmp_path / "s.sqlite", *flag])
    assert code == 0, err
    assert bool(calls) is joined and given[0] == bench_gets
