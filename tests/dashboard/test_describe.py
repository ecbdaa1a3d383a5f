"""lab.dashboard.describe: what a point is in words — hover text, the controls that select it, the card."""
from dashboard_rows import BF16, costed_rows
from lab.dashboard.describe import card_html, controls_for, hover_html, hover_text


def test_hover_text_names_the_configuration_and_its_numbers():
    row = costed_rows().iloc[4]                           # bf16, batch 8
    text = hover_text(row)
    assert text.split("\n")[0] == "digits-mlp · batch 8 · bf16 · cpu"  # rows without a device: the default
    assert "latency p50 16 ms (p90–p99 17.6–19.2)" in text and "energy 5 mJ/sample (estimate)" in text
    assert "CO2e 0.246 g/1k samples" in text and "roofline 5% of attainable" in text
    assert "lab-hover" not in hover_html(row) and "<b>digits-mlp · batch 8 · bf16 · cpu</b>" in hover_html(row)


def test_controls_for_a_row_select_its_configuration_and_keep_the_other_batch_sizes():
    row = costed_rows().iloc[4].to_dict() | {"prune_method": "unstructured", "sparsity": 0.6, "threads": 1,
                                            "device": "cpu", "compile": False, "finetune_epochs": 0}
    values = controls_for(row, {"batch_sizes": (1, 16)})
    assert values == {"model": "digits-mlp", "quant": "bf16", "prune_method": "unstructured", "sparsity": 0.6,
                      "finetune_epochs": 0, "device": "cpu", "threads": 1, "compile": False,
                      "batch_sizes": (1, 8, 16)}
    dense = controls_for({**row, "prune_method": "none", "sparsity": 0.0}, {"batch_sizes": (8,)})
    assert "sparsity" not in dense and dense["batch_sizes"] == (8,)


def test_the_card_is_html_with_energy_source_carbon_cost_and_roofline():
    page = card_html(costed_rows(), BF16)
    for text in ("mJ / sample, estimate", "g CO2e / 1k samples", "USD / 1M samples", "of the roofline",
                 ">0.246<", ">9.12<", ">1%<", "grid 380 g/kWh"):
        assert text in page
    assert "no point yet" in card_html(None, None)


def test_slow_steps_say_what_takes_seconds_before_it_runs(tmp_path):
    import lab
    from lab import roofline
    from lab.dashboard.describe import slow_steps

    bench = lab.Bench(tmp_path / "s.sqlite", budget="quick")
    roofline.clear_cache()
    config = lab.Config(model="digits-cnn", threads=1, prune_method="structured", sparsity=0.5, finetune_epochs=2,
                        compile=True)
    steps = slow_steps(config, bench)
    assert steps[0].startswith("measuring this machine's ceilings at 1 thread(s), once")
    assert steps[1:] == ["fine-tuning 2 epoch(s) after pruning", "compiling the model (torch.compile: ~20 s the first time)"]
    env_id = bench.environment("cpu")["env_id"]
    bench.store.put_ceilings(env_id, "cpu", 1, {"peak_gflops": {"fp32": 1.0}, "bandwidth_gbs": 1.0})
    assert slow_steps(lab.Config(model="digits-cnn", threads=1), bench) == []  # stored: answered at once


def test_slow_steps_of_a_node_device_skip_only_the_ceilings():
    """A cluster node's device: no ceilings step (the node's store has them, not this one; the bench is not
    asked), but fine-tuning and compiling are still said (the panel used to drop every step)."""
    import lab
    from lab.dashboard.describe import slow_steps

    class NoEnvironment:
        store = None

        def environment(self, device):
            raise AssertionError(f"asked for {device}'s environment")

    config = lab.Config(model="digits-cnn", device="n1/cpu", prune_method="structured", sparsity=0.5,
                        finetune_epochs=2, compile=True)
    assert slow_steps(config, NoEnvironment()) == [
        "fine-tuning 2 epoch(s) after pruning", "compiling the model (torch.compile: ~20 s the first time)"]
