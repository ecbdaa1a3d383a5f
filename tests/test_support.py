"""lab.support: whether this machine can run a configuration, one function for error rows and for options."""
import lab
from lab import hardware, support


def test_a_device_this_machine_lacks_is_named_with_what_it_has():
    assert support.device_reason("cpu") is None
    assert support.device_reason("cuda:7") == ("device=cuda:7 is not on this machine (it has "
                                               f"{', '.join(hardware.available_devices())})")


def test_more_threads_than_cores_is_a_reason():
    cores = hardware.cpu_count()
    assert support.threads_reason(cores, "cpu") is None
    assert support.threads_reason(cores + 1, "cpu") == f"threads={cores + 1} is more than the {cores} cores this machine has"


def test_why_not_asks_the_device_the_threads_the_scheme_and_the_pruning_method():
    ok = lab.Config(model="digits-mlp", threads=1)
    assert support.why_not(ok) is None
    assert support.why_not(lab.Config(model="digits-mlp", threads=1, quant="fp8")).startswith("fp8 needs a CUDA GPU")
    assert "2:4" in support.why_not(lab.Config(model="digits-mlp", threads=1, prune_method="2:4", sparsity=0.5))


def test_option_reasons_list_every_scheme_and_method_with_the_same_words():
    reasons = support.option_reasons("cpu")
    assert set(reasons) == {"quant", "prune_method"}
    assert reasons["quant"]["fp32"] is None and reasons["quant"]["fp8"] == support.why_not(
        lab.Config(model="digits-mlp", threads=1, quant="fp8"))
