"""Efficiency Lab: measure what a model really costs to run, honestly.

    import lab
    row = lab.measure(lab.Config(model="digits-mlp", batch_size=64))
    df = lab.sweep(lab.grid(model="digits-mlp", batch_size=[1, 64], quant=["fp32", "bf16"]))
    bench = lab.Bench(budget="quick")        # the one path to the store that every front end takes
"""
import logging


class _KnownThirdPartyNoise(logging.Filter):
    """Drops log lines that say nothing to a lab user, and only those, whoever imports torchao
    (lab's torchao schemes, or transformers for minilm):

    - torchao (0.18) failing to load two CUDA extension libraries the lab never calls
      (_C_mxfp8: MX-format kernels; _C_cutlass_90a: Hopper CUTLASS kernels), on every import;
    - torch's pytree deprecation notice for torchao's own Enum classes (register_constant).
    """

    LIBRARIES = ("/torchao/_C_mxfp8", "/torchao/_C_cutlass_90a")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "torchao":
            message = record.getMessage()
            return not (message.startswith("Failed to load") and any(lib in message for lib in self.LIBRARIES))
        if record.name == "torch.utils._pytree" and "is an Enum subclass" in str(record.msg):
            enum = record.args[0] if isinstance(record.args, tuple) and record.args else None
            return not str(getattr(enum, "__module__", "")).startswith("torchao")
        return True


def _quiet_third_party() -> None:
    noise = _KnownThirdPartyNoise()
    for name in ("torchao", "torch.utils._pytree"):  # the loggers those lines come from (logger.warning)
        logger = logging.getLogger(name)
        if not any(isinstance(f, _KnownThirdPartyNoise) for f in logger.filters):
            logger.addFilter(noise)


_quiet_third_party()  # before anything below can import torchao

from lab.version import MEASUREMENT_VERSION, __version__  # noqa: E402

from lab.bench import Bench, measure, sweep  # noqa: E402
from lab.budget import Budget  # noqa: E402
from lab.config import Config, grid  # noqa: E402
from lab.errors import FieldError  # noqa: E402
from lab.models.registry import register_model  # noqa: E402
from lab.sensitivity import sensitivity_scan  # noqa: E402

__all__ = ["Config", "grid", "measure", "sweep", "sensitivity_scan", "Bench", "Budget", "FieldError",
           "register_model", "Dashboard", "DataTrainDashboard", "__version__", "MEASUREMENT_VERSION"]


def __getattr__(name):  # lazy: ipywidgets loads only when the dashboard is used
    if name == "Dashboard":
        from lab.widgets import Dashboard
        return Dashboard
    if name == "DataTrainDashboard":
        from lab.widgets import DataTrainDashboard
        return DataTrainDashboard
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
