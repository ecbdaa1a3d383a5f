"""lab.cluster.tasks in this process, without Ray: what a node does with the configurations it is sent."""
import pytest
import torch
from torch import nn

import lab
from lab import hardware, prepare
from lab.budget import Budget
from lab.cluster import shipping, tasks
from lab.measure import energy
from lab.models import registry

NAME = "user-shipped"


def _build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def _inputs(n):
    return torch.randn(n, 4)


@pytest.fixture
def shipped(monkeypatch):
    """A user's model as Ray delivers it: each call a fresh unpickled copy of its registry entry."""
    import ray.cloudpickle as cloudpickle

    monkeypatch.setattr(tasks, "_SHIPPED", {})
    monkeypatch.setattr(tasks, "_PREPARED", prepare.PreparedCache())
    lab.register_model(NAME, _build, make_input=_inputs)
    payload = shipping.model_payload(NAME)
    blob = cloudpickle.dumps(payload["model_by_value"])
    return lambda: {"model_by_value": cloudpickle.loads(blob), "fingerprint": payload["fingerprint"]}


def test_a_user_model_carries_its_fingerprint(shipped):
    payload = shipped()
    assert payload["model_by_value"] is not registry.get(NAME)  # a copy, as on a node
    assert payload["fingerprint"] == prepare.model_fingerprint(NAME)


def test_later_configurations_of_a_shipped_model_reuse_its_spec_and_transformed_model(shipped):
    env = hardware.environment("cpu")
    first_payload, second_payload = shipped(), shipped()
    rows = [tasks.measure_on_node({"model": NAME, "threads": 1, "batch_size": batch}, Budget.quick(), env=env,
                                  **payload)
            for batch, payload in ((1, first_payload), (2, second_payload))]
    assert [r.get("error") for r in rows] == [None, None]
    # The node keeps the first copy: the second configuration's transformed model is the first's.
    assert registry.get(NAME) is first_payload["model_by_value"]
    assert tasks._PREPARED.built == 1
    assert [r["transform_reused"] for r in rows] == [False, True]


def test_a_failure_on_the_node_is_the_rows_error_columns():
    row = tasks.measure_on_node({"model": "no-such-model"}, Budget.quick(), env={})
    assert set(row) == {"error", "error_detail"} and "no-such-model" in row["error"]


def test_a_node_describes_its_devices_as_env_does_this_machine():
    info = tasks.describe_node()
    cpu = info["devices"][0]
    # energy_note and energy_assumption included: the node's env says what an estimate assumes, as here.
    assert {"energy_source", "energy_note", "energy_assumption", "energy_why", "environment"} <= set(cpu)
    assert cpu["environment"]["env_id"] == hardware.environment("cpu")["env_id"]


class _FakeCluster:
    address = "fake:6379"

    def describe_all(self):
        info = energy.describe_with_energy()
        return [{**info, "node": "box", "node_address": "10.0.0.2"}]


def _env(argv, monkeypatch):
    import io

    from lab import cli
    from lab.cluster import cli as cluster_cli

    monkeypatch.setattr(cluster_cli, "join", lambda args: _FakeCluster())
    out, err = io.StringIO(), io.StringIO()
    return cli.main(["env", *argv], out=out, err=err), out.getvalue(), err.getvalue()


def test_env_of_a_cluster_prints_each_node_device_as_env_prints_this_machines(monkeypatch):
    code, out, _ = _env(["--cluster", "fake:6379"], monkeypatch)
    assert code == 0
    assert "\n  box/cpu: " in out and "\n    energy           " in out


def test_env_ceilings_of_a_cluster_is_refused_in_one_line(monkeypatch):
    code, out, err = _env(["--cluster", "fake:6379", "--ceilings"], monkeypatch)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "--ceilings" in err and len(err.strip().splitlines()) == 1
