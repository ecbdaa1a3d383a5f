"""lab.dashboard.controls: control values -> configs (pure), and the reasons this hardware refuses a selection."""
import pytest

from lab import hardware
from lab.dashboard import controls
from lab.dashboard.controls import configs_from_controls

CORES = hardware.cpu_count()


def test_one_config_per_batch_size_smallest_first():
    configs = configs_from_controls({"model": "digits-cnn", "quant": "bf16", "batch_sizes": (64, 1, 8, 8),
                                     "threads": 1})
    assert [c.batch_size for c in configs] == [1, 8, 64]
    assert {(c.model, c.quant, c.threads, c.device, c.prune_method, c.sparsity) for c in configs} == \
        {("digits-cnn", "bf16", 1, "cpu", "none", 0.0)}


def test_sparsity_and_finetuning_mean_nothing_without_pruning():
    (config,) = configs_from_controls({"prune_method": "none", "sparsity": 0.7, "finetune_epochs": 3,
                                       "batch_sizes": (1,)})
    assert (config.sparsity, config.finetune_epochs) == (0.0, 0)
    (config,) = configs_from_controls({"prune_method": "structured", "sparsity": 0.3, "finetune_epochs": 2,
                                       "batch_sizes": 4})
    assert (config.prune_method, config.sparsity, config.finetune_epochs) == ("structured", 0.3, 2)


def test_two_four_fixes_sparsity_and_slider_noise_is_rounded():
    (config,) = configs_from_controls({"prune_method": "2:4", "sparsity": 0.3, "batch_sizes": (1,)})
    assert config.sparsity == 0.5
    a, = configs_from_controls({"prune_method": "unstructured", "sparsity": 0.1 + 0.2, "batch_sizes": (1,)})
    b, = configs_from_controls({"prune_method": "unstructured", "sparsity": 0.3, "batch_sizes": (1,)})
    assert a.config_id == b.config_id

def test_threads_only_for_the_cpu(fake_gpu):
    (cpu,) = configs_from_controls({"device": "cpu", "threads": 1, "batch_sizes": (1,)})
    (gpu,) = configs_from_controls({"device": "cuda", "threads": 1, "batch_sizes": (1,)})
    assert cpu.threads == 1
    assert gpu.device == "cuda:0" and gpu.threads == CORES   # the control is ignored: Config's default


@pytest.mark.parametrize("values, field", [
    ({"colour": "red"}, "colour"),
    ({"batch_sizes": ()}, "batch_sizes"),
    ({"batch_sizes": (0, 8)}, "batch_sizes"),
    ({"batch_sizes": "8"}, "batch_sizes"),
    ({"model": "resnet-9000"}, "model"),
    ({"threads": 0}, "threads"),
    ({"prune_method": "unstructured", "sparsity": 0.99}, "sparsity"),
    ({"quant": "int3"}, "quant"),
    ({"prune_method": "magic"}, "prune_method"),
    ({"device": "tpu"}, "device"),
    ({"compile": "yes"}, "compile"),
])
def test_bad_values_name_the_field(values, field):
    with pytest.raises(ValueError, match=f"^{field}="):
        configs_from_controls(values)


def test_refusal_gives_the_reason_this_hardware_cannot_run_it(fake_gpu):
    assert controls.refusal({"quant": "fp32"}) is None
    assert "fp8" in controls.refusal({"quant": "fp8"})
    assert "2:4" in controls.refusal({"prune_method": "2:4"})
    assert "cpu" in controls.refusal({"quant": "int8-dynamic", "device": "cuda:0"})
    reasons = controls.option_reasons("cpu")
    assert reasons["quant"]["fp32"] is None and reasons["quant"]["fp8"]
    assert reasons["prune_method"]["unstructured"] is None and reasons["prune_method"]["2:4"]


def test_a_selection_this_machine_cannot_run_is_refused_with_the_measuring_reason():
    assert controls.refusal({"threads": CORES + 1}) == f"threads={CORES + 1} is more than the {CORES} cores this machine has"
    assert controls.refusal({"device": "cuda:7"}).startswith("device=cuda:7 is not on this machine")
    assert controls.refusal({"quant": "fp8"}).startswith("fp8 needs a CUDA GPU")


def test_a_node_device_is_labelled_and_one_the_node_does_not_list_is_labelled_absent(monkeypatch):
    from lab.cluster import session

    class FakeCluster:
        def describe(self, node):
            return {"devices": [{"device": "cpu", "name": "EPYC", "cores": 8}, {"device": "cuda:0", "name": "H100"}]}

    monkeypatch.setattr(session, "connect", lambda *a, **k: FakeCluster())
    assert controls.device_label("box/cpu") == "box/cpu — EPYC (8 cores)"
    assert controls.device_label("box/cuda:0") == "box/cuda:0 — H100"
    # before: StopIteration out of next(), which the hardware dropdown's builder did not expect
    assert controls.device_label("box/cuda:1") == "box/cuda:1 — absent (node box does not list it)"


def test_several_whole_numbers_name_their_control():
    assert controls.batch_sizes(8) == (8,) and controls.batch_sizes([64, 1, 8, 8]) == (1, 8, 64)
    with pytest.raises(ValueError, match=r"^batch_sizes=\(\) is not allowed: at least one batch size"):
        controls.batch_sizes(())
    with pytest.raises(ValueError, match=r"^batch_sizes=\(0, 1\) is not allowed: whole numbers of 1 or more"):
        controls.batch_sizes((0, 1))
    with pytest.raises(ValueError, match=r"^num_workers='2' is not allowed: one or more whole numbers, e.g. \(0, 1"):
        controls.whole_numbers("num_workers", "2", example="(0, 1, 2)", one="number of workers")

