"""A real two-node Ray cluster on this machine: a head on 127.0.0.2 and a second node on 127.0.0.3,
started and stopped here (only loopback addresses are ever talked to; Ray's own private temp dir).

Covered: ``env`` lists both nodes; a grid with ``--device all`` gives rows from both, each with its
node's env_id; the dashboard's hardware dropdown lists both and measures on the chosen one; a node
killed mid-sweep gives error rows naming it, and a rerun measures only what the store can't serve.
The module runs in 103 s on the 2-core development VM, 2026-12-02 (starting Ray is most of it).
"""
from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]' (make test does)")

import private_network  # noqa: E402

if not private_network.inside() and private_network.available():
    pytest.skip("runs inside a private network namespace, from test_private_network.py (Ray's servers "
                "listen on every interface)", allow_module_level=True)

import lab  # noqa: E402
from helpers import run_main  # noqa: E402
from lab.budget import Budget  # noqa: E402
from lab.cluster import session  # noqa: E402
from lab.cluster.local import LocalCluster  # noqa: E402
from lab.measure.contention import ContentionPolicy  # noqa: E402
from lab.store import Store  # noqa: E402

pytestmark = pytest.mark.slow
NODES = [("head", "127.0.0.2"), ("second", "127.0.0.3")]


@pytest.fixture(scope="module")
def cluster():
    local = LocalCluster(NODES, num_cpus=1)
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(autouse=True)
def _no_cluster_variable(monkeypatch):
    monkeypatch.delenv(session.ENV_VAR, raising=False)


def test_env_lists_both_nodes_with_their_devices(cluster):
    code, out, err = run_main(["env", "--cluster", cluster.address])
    assert code == 0, err
    assert "node head (127.0.0.2)" in out and "node second (127.0.0.3)" in out
    assert "head/cpu" in out and "second/cpu" in out
    assert out.count("energy") >= 2 and "cores" in out


def test_lab_cluster_auto_finds_the_cluster_ray_names(cluster, monkeypatch):
    """LAB_CLUSTER=auto: Ray's own discovery (here RAY_ADDRESS, as `ray start` prints it to export)."""
    session.disconnect()
    monkeypatch.setenv(session.ENV_VAR, "auto")
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    code, out, err = run_main(["env"])
    assert code == 0, err
    assert "node head (127.0.0.2)" in out and "node second (127.0.0.3)" in out
    session.disconnect()


def test_a_ray_client_address_joins_and_measures_on_a_node(cluster, tmp_path):
    """LAB_CLUSTER=ray://host:port: Ray Client (ray[client], the cluster extra), to the head's client server."""
    pytest.importorskip("grpc", reason="Ray Client needs ray[client]: pip install -e '.[cluster]'")
    # The first join after a fresh install is now and then lost by Ray 2.60's client server; connect
    # joins once more then (session.CLIENT_JOIN_ATTEMPTS, tested with a fake Ray in test_join.py).
    session.disconnect()
    code, out, err = run_main(["env", "--cluster", cluster.client_address])
    assert code == 0, err
    assert "node head (127.0.0.2)" in out and "node second (127.0.0.3)" in out
    store = tmp_path / "client.sqlite"
    code, out, err = run_main(["run", "--cluster", cluster.client_address, "--model", "digits-mlp", "--batch", "1",
                               "--device", "second/cpu", "--quick", "--store", store])
    assert code == 0, err
    (row,) = Store(store).rows()
    assert row["device"] == "second/cpu" and row["node"] == "second" and row["error"] is None
    session.disconnect()


def test_device_all_measures_the_grid_on_every_node(cluster, tmp_path):
    store = tmp_path / "all.sqlite"
    code, out, err = run_main(["run", "--cluster", cluster.address, "--model", "digits-mlp", "--batch", "1,8",
                               "--device", "all", "--quick", "--store", store])
    assert code == 0, err
    assert "comparison across devices" in out and "latency_vs_fastest" in out
    df = Store(store).dataframe()
    assert sorted(df["device"].unique()) == ["head/cpu", "second/cpu"]
    assert len(df) == 4 and df["error"].isna().all()
    env_ids = df.groupby("device")["env_id"].unique()
    assert len(env_ids["head/cpu"]) == 1 and len(env_ids["second/cpu"]) == 1
    assert env_ids["head/cpu"][0] != env_ids["second/cpu"][0]  # one machine, two nodes: two environments
    assert set(df["node"]) == {"head", "second"} and (df["latency_ms_p50"] > 0).all()
    assert (df["energy_source"] == "estimate").all()
    from lab.cluster.compare import comparison, comparison_figure

    table = comparison(df)
    assert len(table) == 4 and (table.groupby("configuration")["latency_vs_fastest"].min() == 1.0).all()
    figure = comparison_figure(df)
    assert [ax.get_ylabel() for ax in figure.axes][:2] == ["latency per batch, p50 (ms)",
                                                         "energy per sample (mJ, estimate)"]


def test_a_study_with_a_cluster_and_device_all_and_a_scheme_a_node_lacks(cluster, tmp_path):
    study = tmp_path / "nodes.toml"
    study.write_text(f'name = "nodes"\ncluster = "{cluster.address}"\ndevice = "all"\nbudget = "quick"\n'
                     '[grid]\nmodel = ["digits-mlp"]\nquant = ["fp32", "fp8"]\n')
    code, out, err = run_main(["sweep", study, "--store", tmp_path / "study.sqlite"])
    assert code == 1, err  # fp8 failed on both nodes: stored with the reason
    df = Store(tmp_path / "study.sqlite").dataframe()
    assert sorted(df["device"]) == ["head/cpu", "head/cpu", "second/cpu", "second/cpu"]
    assert df[df["quant"] == "fp32"]["error"].isna().all()
    fp8 = df[df["quant"] == "fp8"]["error"]
    assert fp8.str.startswith("unsupported: fp8").all(), list(fp8)


def test_a_registered_model_is_shipped_by_value_and_measured_on_the_node(cluster):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    lab.register_model("tiny-net", build=net, make_input=lambda n: torch.randn(n, 8))
    bench = lab.Bench(None, budget="quick", cluster=cluster.address)
    row = bench.measure(lab.Config(model="tiny-net", batch_size=4, device="second/cpu"))
    assert row["error"] is None, row.get("error_detail")
    assert row["node"] == "second" and row["latency_ms_p50"] > 0 and row["params"] == 8 * 16 + 16 + 16 * 2 + 2


def test_dashboard_lists_both_nodes_and_measures_on_the_chosen_one(cluster, tmp_path):
    dash = lab.Dashboard(store=tmp_path / "dash.sqlite", cluster=cluster.address, device="second/cpu",
                         model="digits-mlp", batch_sizes=(1,), budget="quick")
    try:
        options = [value for _, value in dash.controls.w["device"].options]
        assert "head/cpu" in options and "second/cpu" in options and "cpu" in options
        assert any(label.startswith("second/cpu — ") for label, _ in dash.controls.w["device"].options)
        assert dash.wait(120), "the dashboard did not finish measuring"
        rows = dash.rows
        assert list(rows["device"]) == ["second/cpu"] and rows["error"].isna().all(), dash.errors
        assert rows["node"].iloc[0] == "second"
    finally:
        dash.close()


def test_a_node_that_leaves_mid_sweep_gives_error_rows_and_a_resumable_store(cluster, tmp_path):
    # Both nodes share this machine's 2 cores on purpose, so rows are contended by design here; the
    # contention flag is tested elsewhere. A budget that never flags makes reuse checkable exactly.
    budget = dataclasses.replace(Budget.quick(), contention=ContentionPolicy(max_retries=0, threshold=1e9))
    store = Store(tmp_path / "faults.sqlite")
    configs = lab.grid(model="digits-cnn", batch_size=[1, 2, 4, 8, 16, 32, 64],
                       device=["head/cpu", "second/cpu"])
    killed = []

    def on_row(row):  # the second node leaves after its first row is committed
        if row["device"] == "second/cpu" and not killed:
            cluster.kill("second")
            killed.append(row["config_id"])

    bench = lab.Bench(store, budget=budget, cluster=cluster.address)
    rows = bench.rows(configs, on_row=on_row)
    assert len(rows) == len(configs)
    head = [r for r in rows if r["device"] == "head/cpu"]
    second = [r for r in rows if r["device"] == "second/cpu"]
    assert all(r["error"] is None for r in head)  # the rest went on
    assert second[0]["error"] is None  # measured before it left: kept
    failed = [r for r in second if r["error"]]
    assert failed and all("node second" in r["error"] and "\n" not in r["error"] for r in failed), \
        [r["error"] for r in failed]
    assert len(store) == len(configs)  # every row committed, the error rows too

    # The node comes back; a rerun measures only what the store can't serve: the failed rows.
    cluster.restart("second")
    rerun = lab.Bench(store, budget=budget, cluster=cluster.address)
    missing = {c.config_id for c in configs if not rerun.stored(c)}
    assert missing == {r["config_id"] for r in failed}
    again = rerun.rows(configs)
    measured = {r["config_id"] for r in again if not r["from_store"]}
    assert measured == missing
    assert all(r["error"] is None for r in again)
